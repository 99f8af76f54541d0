import { severalAppsSuite } from './apps-suite.js';

severalAppsSuite('Redis');

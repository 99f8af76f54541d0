export { type AppDeps, createApp } from './app.js';

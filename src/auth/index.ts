export { createLogin, type Login, type LoginOptions } from './login.js';
export { createOpenData, type OpenData, type OpenDataFields } from './open-data.js';

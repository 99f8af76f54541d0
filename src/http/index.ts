export { type AdminDeps, createAdminApp } from './admin.js';
export { type AppDeps, createApp } from './app.js';
export type { RateLimitBackend } from './middleware/rate-limit.js';

import { createAuthClient } from 'wxauth/client';

/**
 * The one client of the mini-program. Every page imports this instance: the single-flight refresh
 * and re-login work only when all requests go through the same client.
 */
export const auth = createAuthClient({ baseUrl: 'https://api.example.com' });

export {
  type AccessTokenOptions,
  type AccessTokens,
  createAccessTokens,
  type IssuedAccessToken,
  type VerifiedAccessToken,
} from './access.js';
export {
  generateEphemeralKeySet,
  generatePrivateJwks,
  type KeySet,
  KeySetError,
  keySetFromJwks,
  loadKeySet,
  type SigningAlgorithm,
  SUPPORTED_ALGORITHMS,
} from './keys.js';
export { hashRefreshToken, mintRefreshToken, parseRefreshToken } from './refresh-token.js';
export { createSessions, type SessionPolicy, type Sessions, type TokenResponse } from './sessions.js';

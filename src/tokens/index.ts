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
  SUPPORTED_ALGORITHMS,
  type SigningAlgorithm,
} from './keys.js';
export { hashRefreshToken, mintRefreshToken, OPENID_PATTERN, parseRefreshToken } from './refresh-token.js';
export { createSessions, type SessionPolicy, type Sessions, type TokenResponse } from './sessions.js';

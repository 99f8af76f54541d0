export {
  type AccessTokenOptions,
  type AccessTokens,
  createAccessTokens,
  type IssuedAccessToken,
  type VerifiedAccessToken,
} from './access.js';
export { createIdTokens, type IdTokenClaims, type IdTokens } from './id-token.js';
export {
  addNextKey,
  generateEphemeralKeySet,
  generatePrivateJwks,
  type KeySet,
  KeySetError,
  keySetFromJwks,
  loadKeySet,
  NEXT_MEMBER,
  promoteNextKey,
  retireKey,
  type SigningAlgorithm,
  SUPPORTED_ALGORITHMS,
} from './keys.js';
export { hashRefreshToken, mintRefreshToken, parseRefreshToken } from './refresh-token.js';
export { createRevocations, type RevocationOptions, type Revocations } from './revocations.js';
export { createSessions, type SessionPolicy, type Sessions, TokenResponse } from './sessions.js';

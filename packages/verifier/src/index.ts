export { InvalidTokenError, JwksUnavailableError, VerifierError } from './errors.js';
export type { Fetch, FetchResponse } from './keys.js';
export {
  authenticate,
  bearerToken,
  expressBearer,
  type FastifyReplyLike,
  fastifyBearer,
  type Headers,
  type KoaContextLike,
  koaBearer,
  type MiddlewareOptions,
  type NodeResponseLike,
  type RequestLike,
  refusal,
} from './middleware.js';
export { createVerifier, type VerifiedToken, type Verifier, type VerifierOptions } from './verifier.js';

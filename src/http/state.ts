import type { Logger } from 'pino';
import type { VerifiedAccessToken } from '../tokens/index.js';

/**
 * What the middleware leaves on `ctx.state`, in the order createApp installs it (app.ts): request
 * context first (`log`), then the error responder (reads `rateLimit`), the body reader, the routes.
 */
export interface RequestState {
  /** requestContext: the request's logger, carrying its req_id. Always there. */
  log: Logger;
  /** A rate limit that refused the request, named for the metrics. */
  rateLimit?: string;
}

/** Routes behind bearer(): the verified access token. */
export interface BearerState extends RequestState {
  subject: VerifiedAccessToken;
}

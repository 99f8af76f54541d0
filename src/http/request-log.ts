import type { Logger } from 'pino';
import { sequentialIds } from '../lib/index.js';
import type { Metrics } from '../metrics/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** A path is logged whole up to this many characters, then cut: a scanner's path can be any length. */
const MAX_LOGGED_PATH = 200;

/**
 * Each request's id, request line and metrics, for both ways a request is answered (the Koa stack and
 * the answer from memory of bearer-lane.ts), so that the two cannot log or count differently.
 */
export interface RequestLog {
  /** The caller's X-Request-Id when it is sane, else a new one. */
  idOf(given: string | string[] | undefined): string;
  /**
   * The request line and the request metrics, once answered. Only method, route path, status and
   * duration: never a body, a query string or a header value. `route` is the router's pattern (label
   * values must stay few); `startedMs` is performance.now() when the request came in.
   */
  answered(id: string, route: string, method: string, path: string, status: number, startedMs: number): void;
}

export function createRequestLog(logger: Logger, metrics: Metrics): RequestLog {
  const newRequestId = sequentialIds();
  // The request line holds only values this code picks (no body, header value or query string), so it
  // is written without redaction, which cost more than the rest of the line; every other line is
  // still redacted.
  const requestLines = logger.child({}, { redact: { paths: [] } });
  return {
    idOf(given) {
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newRequestId();
    },
    answered(id, route, method, path, status, startedMs) {
      const seconds = (performance.now() - startedMs) / 1000;
      metrics.observeRequest(route, method, status, seconds);
      requestLines.info(
        {
          req_id: id,
          method,
          path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path,
          status,
          ms: Math.round(seconds * 10000) / 10,
        },
        'request',
      );
    },
  };
}

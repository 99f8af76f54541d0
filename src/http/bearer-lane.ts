import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokens, VerifiedAccessToken } from '../tokens/index.js';
import type { RequestLog } from './request-log.js';

/**
 * The two routes other services call on every request of theirs, `GET /auth/me` and forward auth
 * (`/auth/verify`), answered from memory when their answer is certain: an exact path, the usual
 * `Authorization: Bearer <token>` and a token this instance verified before that has neither expired
 * nor been revoked (access.recall: two map lookups). That answer is a 200 whose every byte is known,
 * written straight to Node's response, ahead of the Koa stack, whose context, middleware chain and
 * router cost several times the answer itself (measured by `npm run bench`).
 *
 * Everything else goes to the Koa stack, which answers it as before: a first presentation (verified
 * there, and remembered), any error, HEAD, a query string, another spelling of the header. So the lane
 * never decides anything the routes would not: it repeats their success, headers and body as they
 * write them (the answers below are theirs too), with the same request line and metrics, which a
 * test compares byte for byte with the stack's answer to the same request.
 */
export type BearerLane = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The body of `GET /auth/me`. */
export function meBody(subject: VerifiedAccessToken): { openid: string; unionid?: string; exp: number } {
  // From the token alone: the unionid is there when the token's app asks for it (its `claims`).
  return subject.unionid === undefined
    ? { openid: subject.sub, exp: subject.exp }
    : { openid: subject.sub, unionid: subject.unionid, exp: subject.exp };
}

/** The headers of a `/auth/verify` that lets the request through, ahead of its empty body. */
export function verifiedHeaders(subject: VerifiedAccessToken): [string, string][] {
  const headers: [string, string][] = [
    ['Cache-Control', 'no-store'],
    ['X-Openid', subject.sub],
  ];
  if (subject.sid !== undefined) headers.push(['X-Session-Id', subject.sid]);
  // Tokens issued before client_id existed have none until they expire: no header rather than an empty one.
  if (subject.clientId !== undefined) headers.push(['X-Client-Id', subject.clientId]);
  return headers;
}

/** The path of `GET /auth/me`. */
export const ME_PATH = '/auth/me';
/** Forward auth's one path. */
export const FORWARD_AUTH_PATH = '/auth/verify';
/**
 * Every method a gateway may send to forward auth (nginx's auth_request keeps the client's own), in the
 * order its 501's Allow names them.
 */
export const FORWARD_AUTH_METHODS = ['HEAD', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** HEAD is left to Koa, which leaves out the body a GET would have. */
const LANE_VERIFY_METHODS = new Set(FORWARD_AUTH_METHODS.filter((method) => method !== 'HEAD'));

const BEARER = 'Bearer ';

export function bearerLane(access: AccessTokens, requests: RequestLog): BearerLane {
  return function answerFromMemory(req, res) {
    const started = performance.now();
    const { url, method } = req;
    const me = url === ME_PATH;
    if (me ? method !== 'GET' : url !== FORWARD_AUTH_PATH || !LANE_VERIFY_METHODS.has(method as string))
      return false;
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith(BEARER)) return false;
    const subject = access.recall(header.slice(BEARER.length));
    if (subject === undefined) return false;

    const route = me ? ME_PATH : FORWARD_AUTH_PATH;
    const id = requests.idOf(req.headers['x-request-id']);
    if (me) {
      const body = JSON.stringify(meBody(subject));
      res.writeHead(200, [
        'X-Request-Id',
        id,
        'Cache-Control',
        'no-store',
        'Content-Type',
        'application/json; charset=utf-8',
        'Content-Length',
        String(Buffer.byteLength(body)),
      ]);
      res.end(body);
    } else {
      const headers = ['X-Request-Id', id];
      for (const [name, value] of verifiedHeaders(subject)) headers.push(name, value);
      headers.push('Content-Type', 'text/plain; charset=utf-8', 'Content-Length', '0');
      res.writeHead(200, headers);
      res.end();
    }
    requests.answered(id, route, method as string, route, 200, started);
    return true;
  };
}

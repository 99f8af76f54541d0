import type { Middleware } from 'koa';
import { InvalidToken } from '../../errors/index.js';
import type { AccessTokens } from '../../tokens/index.js';
import type { BearerState } from '../state.js';

export type { BearerState } from '../state.js';

/** RFC 6750 §2.1: the scheme is case-insensitive; the token is token68. */
const AUTHORIZATION = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Verifies the access JWT from the Authorization header alone, touching no storage. Tokens are never
 * taken from the query string or the body (RFC 6750 §2.2/2.3 are deliberately not supported: URLs end
 * up in logs).
 */
export function bearer(access: AccessTokens): Middleware<BearerState> {
  return async function requireAccessToken(ctx, next) {
    const header = ctx.get('Authorization');
    if (header === '' || !/^bearer(\s|$)/i.test(header)) {
      throw new InvalidToken('Send the access token as Authorization: Bearer <token>.', { missing: true });
    }
    // The common case, "Bearer <a token verified before>", is found without parsing the header
    // further; anything else (other spacing included) takes the full path.
    const recalled = header.charCodeAt(6) === 32 ? access.recall(header.slice(7)) : undefined;
    ctx.state.subject = recalled ?? (await access.verify(tokenOf(header)));
    await next();
  };
}

function tokenOf(header: string): string {
  const match = AUTHORIZATION.exec(header);
  if (!match) throw new InvalidToken('The Authorization header is not of the form "Bearer <token>".');
  return match[1]!;
}

/** The page a web login's mini-program code opens: scan, then confirm or cancel. */
import { type Calls, objectOf, serviceError } from './calls.js';
import { AuthError } from './errors.js';
import type { Requests } from './requests.js';
import type { AuthClient } from './types.js';

export function createWebLogin(parts: {
  calls: Calls;
  requests: Requests;
}): Pick<AuthClient, 'scanWebLogin' | 'confirmWebLogin' | 'cancelWebLogin'> {
  const { calls, requests } = parts;

  async function webLoginStep(
    ticket: string,
    step: 'confirm' | 'cancel',
    body: Record<string, string> = {},
  ): Promise<void> {
    const response = await requests.authorized(
      () => calls.post(`/auth/qr/${ticket}/${step}`, body),
      'may-login',
    );
    if (response.statusCode !== 204) throw serviceError(response, `POST /auth/qr/{ticket}/${step}`);
  }

  return {
    async scanWebLogin(scene) {
      const ticket = ticketOf(scene);
      const response = await requests.authorized(
        () => calls.post(`/auth/qr/${ticket}/scan`, {}),
        'may-login',
      );
      if (response.statusCode !== 200) throw serviceError(response, 'POST /auth/qr/{ticket}/scan');
      const body = objectOf(response.data);
      if (
        typeof body?.created_at !== 'number' ||
        typeof body.expires_at !== 'number' ||
        typeof body.address !== 'string' ||
        typeof body.user_agent !== 'string' ||
        typeof body.device !== 'string' ||
        (body.choices !== undefined &&
          (!Array.isArray(body.choices) || !body.choices.every((choice) => typeof choice === 'string')))
      ) {
        throw new AuthError(
          'invalid_response',
          'POST /auth/qr/{ticket}/scan answered 200 without the request.',
        );
      }
      return {
        ticket,
        createdAt: body.created_at * 1000,
        expiresAt: body.expires_at * 1000,
        address: body.address,
        userAgent: body.user_agent,
        device: body.device,
        // None from a service of the version before number matching, which takes a confirm without
        // one: so a page updated first still works with it.
        choices: (body.choices as string[] | undefined) ?? [],
      };
    },

    async confirmWebLogin(ticket, match) {
      await webLoginStep(ticketOf(ticket), 'confirm', { match: String(match) });
    },

    async cancelWebLogin(ticket) {
      await webLoginStep(ticketOf(ticket), 'cancel');
    },
  };
}

/**
 * The ticket in a web login's scene (the page's options.scene, URI-encoded by WeChat), checked before
 * it goes into a URL path with the access token: only the characters the service's tickets use.
 */
function ticketOf(scene: string): string {
  let decoded = typeof scene === 'string' ? scene : '';
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // Not URI-encoded after all: taken as it is, and checked below.
  }
  if (!/^[A-Za-z0-9_-]{16,32}$/.test(decoded)) {
    throw new AuthError(
      'invalid_request',
      "This scene is not a web login's code (a ticket of POST /auth/qr): was the page opened from another code?",
    );
  }
  return decoded;
}

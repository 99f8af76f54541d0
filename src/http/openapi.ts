import { POLL_STATUSES, TICKET_PATTERN } from '../auth/web-login.js';
import { ERROR_CODES } from '../errors/index.js';
import { pathsOf } from './declare.js';
import { AUTH_ROUTES } from './routes/auth.js';
import { FORWARD_AUTH_ROUTES } from './routes/forward-auth.js';
import { HEALTH_ROUTES } from './routes/health.js';
import { OAUTH_ROUTES } from './routes/oauth.js';
import { QR_ROUTES } from './routes/qr.js';
import { SESSION_ROUTES } from './routes/sessions.js';
import { WECHAT_ROUTES } from './routes/wechat.js';

const errorCodes = [...ERROR_CODES];

/**
 * The OpenAPI 3.1 document of every public route, served at GET /openapi.json: the shared components
 * (the answers' shapes) written here, the paths assembled from the routes' declarations (declare.ts),
 * which also give the routes their validation. Tests validate it with a real OpenAPI validator, check
 * that the app serves exactly its routes, send each example through the service and compare it with
 * the recorded document (test/http/fixtures/openapi.json). `algorithms`: the key set's, which the
 * access tokens may be signed with.
 */
export function openApiDocument(options: { algorithms: readonly string[] }) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'wxauth',
      version: '0.1.0',
      description:
        'Login and session service for WeChat mini-programs: code2Session, access JWTs, rotating refresh tokens, open-data decryption. Paths match exactly (case, no trailing slash); a method a path lacks gets 405, one no route has 501, both invalid_request with the methods to use in Allow.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: `JWT (at+jwt, ${options.algorithms.join(' or ')})`,
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'error_description'],
          properties: {
            error: { type: 'string', enum: errorCodes },
            error_description: { type: 'string' },
            wechat_errcode: { type: 'integer', description: "WeChat's errcode, when it caused the error." },
          },
        },
        TokenResponse: {
          type: 'object',
          required: [
            'access_token',
            'token_type',
            'expires_in',
            'refresh_token',
            'refresh_expires_in',
            'openid',
          ],
          properties: {
            access_token: { type: 'string' },
            token_type: { const: 'Bearer' },
            expires_in: { type: 'integer' },
            refresh_token: { type: 'string', description: 'Opaque; single use (rotates).' },
            refresh_expires_in: { type: 'integer' },
            openid: { type: 'string' },
            unionid: { type: 'string' },
            is_new_user: { type: 'boolean', description: 'Login only.' },
          },
        },
        PhoneNumber: {
          type: 'object',
          required: ['phoneNumber', 'purePhoneNumber', 'countryCode'],
          properties: {
            phoneNumber: { type: 'string' },
            purePhoneNumber: { type: 'string' },
            countryCode: { type: 'string' },
          },
        },
        OpenData: {
          type: 'object',
          description: 'The decrypted object, watermark removed.',
          additionalProperties: true,
        },
        Sessions: {
          type: 'object',
          required: ['sessions'],
          properties: {
            sessions: {
              type: 'array',
              description: 'Newest login first.',
              items: {
                type: 'object',
                required: ['id', 'created_at', 'refreshed_at', 'expires_at', 'device', 'current'],
                properties: {
                  id: { type: 'string', description: "The session's id: the access tokens' sid." },
                  created_at: {
                    type: ['integer', 'null'],
                    description: 'Epoch seconds of the login; null for a session older than this record.',
                  },
                  refreshed_at: {
                    type: ['integer', 'null'],
                    description: 'Epoch seconds of the last refresh (the login when never refreshed).',
                  },
                  expires_at: { type: 'integer', description: 'Epoch seconds; each refresh slides it.' },
                  device: { type: ['string', 'null'], description: "The login's device, as it gave it." },
                  current: { type: 'boolean', description: 'The session of the presented access token.' },
                },
              },
            },
          },
        },
        WebLoginStarted: {
          type: 'object',
          required: ['ticket', 'poll_token', 'expires_in', 'image', 'match'],
          properties: {
            ticket: {
              type: 'string',
              pattern: TICKET_PATTERN.source,
              description: "128 random bits: the code's scene.",
            },
            poll_token: {
              type: 'string',
              description: 'A secret for this browser only (256 random bits; the service keeps its SHA-256).',
            },
            expires_in: {
              type: 'integer',
              description: 'Seconds the code may be scanned and confirmed (QR_LOGIN_TTL).',
            },
            image: {
              type: 'string',
              description:
                'The mini-program code (wxacode.getUnlimited) as a data: URL, data:image/png;base64,…',
            },
            match: {
              type: 'string',
              pattern: '^[0-9]{2}$',
              description:
                'Two digits to show beside the code: the phone must pick them from three to confirm (number matching).',
            },
          },
        },
        WebLoginRequest: {
          type: 'object',
          description:
            "What the confirm screen shows about the website's request, so that a relayed code is noticed.",
          required: ['ticket', 'created_at', 'expires_at', 'address', 'user_agent', 'device', 'choices'],
          properties: {
            ticket: { type: 'string' },
            created_at: { type: 'integer', description: 'Epoch seconds.' },
            expires_at: { type: 'integer', description: 'Epoch seconds.' },
            address: { type: 'string', description: 'The address of the browser that asked for the code.' },
            user_agent: {
              type: 'string',
              description:
                'The User-Agent that browser sent: what it says of itself, never a fact (show it as such). Printable ASCII, at most 256 characters.',
            },
            device: {
              type: 'string',
              description:
                "The web session's device, from the same claim, e.g. 'Web · Chrome 120 on Windows': show it as what the browser says it is.",
            },
            choices: {
              type: 'array',
              items: { type: 'string', pattern: '^[0-9]{2}$' },
              minItems: 3,
              maxItems: 3,
              description:
                'Three different two-digit numbers in random order, one of them the match the website shows: the user picks it, and the confirm sends it.',
            },
          },
        },
        WebLoginPoll: {
          type: 'object',
          required: ['status'],
          description:
            'Once confirmed: the token response of a new session too (the same one again within 30 s of its delivery, to the same poll_token). Canceled when the session that confirmed it ended since.',
          properties: {
            status: { enum: [...POLL_STATUSES] },
            access_token: { type: 'string' },
            token_type: { const: 'Bearer' },
            expires_in: { type: 'integer' },
            refresh_token: { type: 'string' },
            refresh_expires_in: { type: 'integer' },
            openid: { type: 'string' },
            unionid: { type: 'string' },
          },
        },
        Discovery: {
          type: 'object',
          required: [
            'issuer',
            'jwks_uri',
            'token_endpoint',
            'grant_types_supported',
            'token_endpoint_auth_methods_supported',
            'id_token_signing_alg_values_supported',
          ],
          properties: {
            issuer: { type: 'string', description: "The access tokens' iss." },
            jwks_uri: { type: 'string', format: 'uri' },
            token_endpoint: { type: 'string', format: 'uri', description: 'POST /auth/refresh' },
            grant_types_supported: { type: 'array', items: { const: 'refresh_token' } },
            response_types_supported: { type: 'array', items: { type: 'string' } },
            token_endpoint_auth_methods_supported: { type: 'array', items: { const: 'none' } },
            subject_types_supported: { type: 'array', items: { type: 'string' } },
            id_token_signing_alg_values_supported: {
              type: 'array',
              items: { type: 'string' },
              description: "The key set's algorithms: those the access tokens may be signed with.",
            },
            claims_supported: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    paths: pathsOf([
      ...AUTH_ROUTES,
      ...SESSION_ROUTES,
      ...WECHAT_ROUTES,
      ...FORWARD_AUTH_ROUTES,
      ...QR_ROUTES,
      ...OAUTH_ROUTES,
      ...HEALTH_ROUTES,
    ]),
  } as const;
}

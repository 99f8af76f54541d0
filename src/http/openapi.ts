import { ERROR_CODES } from '../errors/index.js';

/**
 * The OpenAPI 3.1 document of every route, served at GET /openapi.json: the contract, with the README. Tests validate
 * it with a real OpenAPI validator and check that every route the app serves is in it.
 */
const errorCodes = [...ERROR_CODES];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const bearerErrors = {
  '401': {
    ...error('No token, or a malformed, forged or expired one (RFC 6750 challenge in WWW-Authenticate).'),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
};
const storeErrors = { '503': error('The store (Redis) is unreachable; retry after Retry-After.') };
const upstreamErrors = {
  '502': error('WeChat unreachable, busy or answering nonsense.'),
  '504': error('WeChat did not answer in time.'),
};
const badRequest = {
  '400': error('Malformed body (invalid_request).'),
  '413': error('Body larger than the limit.'),
};
const openDataBody = {
  type: 'object',
  required: ['encryptedData', 'iv'],
  description:
    "The page may forward the event's e.detail as is: fields not named here (errMsg, cloudID, userInfo…) are ignored.",
  properties: {
    encryptedData: {
      type: 'string',
      description:
        'base64 (e.detail.encryptedData) of a non-empty multiple of 16 bytes, at most 65536; a + turned into a space by form encoding is repaired',
    },
    iv: { type: 'string', description: 'base64 of exactly 16 bytes (e.detail.iv)' },
  },
};
/** JSON, or the same fields form-encoded. */
const openDataContent = (schema: object) => ({
  ...json(schema),
  'application/x-www-form-urlencoded': { schema },
});
const bearerOrLoginRequired = {
  '401': {
    ...error(
      'invalid_token (RFC 6750 challenge in WWW-Authenticate), or login_required when no session_key is stored for the user.',
    ),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
};
const openDataErrors = {
  ...badRequest,
  '400': error(
    'invalid_request (malformed field: bad base64, iv not 16 bytes…), decrypt_failed (the stored session_key is stale: wx.login() and POST /auth/login again), invalid_open_data (watermark of another app, openId of another user) or invalid_signature.',
  ),
  ...bearerOrLoginRequired,
  '429': error('rate_limited; see Retry-After.'),
  ...storeErrors,
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'wxauth',
    version: '0.1.0',
    description:
      'Login and session service for WeChat mini-programs: code2Session, access JWTs, rotating refresh tokens, open-data decryption. Paths match exactly (case, no trailing slash); a method a path lacks gets 405, one no route has 501, both invalid_request with the methods to use in Allow.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (at+jwt, EdDSA)' } },
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
    },
  },
  paths: {
    '/auth/login': {
      post: {
        summary: 'Exchange a wx.login() code for tokens',
        requestBody: {
          required: true,
          content: {
            ...json({
              type: 'object',
              required: ['code'],
              properties: { code: { type: 'string', minLength: 1, maxLength: 128 } },
            }),
            'application/x-www-form-urlencoded': {
              schema: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } },
            },
          },
        },
        responses: {
          '200': { description: 'Token response', content: json(ref('TokenResponse')) },
          ...badRequest,
          '400': error('invalid_request, or invalid_grant: the code is unknown, expired or used.'),
          '403': error("access_denied: WeChat's risk control refused the user."),
          '429': error('rate_limited (ours or WeChat 45011); see Retry-After.'),
          ...upstreamErrors,
          ...storeErrors,
        },
      },
    },
    '/auth/refresh': {
      post: {
        summary: 'Rotate a refresh token',
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['refresh_token'],
            properties: { refresh_token: { type: 'string' } },
          }),
        },
        responses: {
          '200': { description: 'A new pair', content: json(ref('TokenResponse')) },
          ...badRequest,
          '400': error('invalid_request, or invalid_grant: unknown, expired, revoked or reused token.'),
          ...storeErrors,
        },
      },
    },
    '/auth/logout': {
      post: {
        summary: 'End one session, or every session of the user',
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: json({
            oneOf: [
              {
                type: 'object',
                required: ['refresh_token'],
                properties: { refresh_token: { type: 'string' } },
              },
              { type: 'object', required: ['all'], properties: { all: { const: true } } },
            ],
          }),
        },
        responses: {
          '204': { description: 'Ended (idempotent; reveals nothing)' },
          ...badRequest,
          ...bearerErrors,
          ...storeErrors,
        },
      },
    },
    '/auth/me': {
      get: {
        summary: 'Who the access token is for (verified from the token alone)',
        security: [{ bearer: [] }],
        responses: {
          '200': {
            description: 'The subject',
            content: json({
              type: 'object',
              required: ['openid', 'exp'],
              properties: { openid: { type: 'string' }, exp: { type: 'integer' } },
            }),
          },
          ...bearerErrors,
        },
      },
    },
    '/wechat/phone-number': {
      post: {
        summary: "The user's phone number: current API (getPhoneNumber code) or legacy (encryptedData + iv)",
        description:
          'With a code, asks WeChat (phonenumber.getPhoneNumber); the session_key is not needed. Without one, decrypts encryptedData and iv with the stored session_key. A body with both (the e.detail of the button, forwarded as is) uses the code.',
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: openDataContent({
            anyOf: [
              {
                type: 'object',
                required: ['code'],
                properties: {
                  code: {
                    type: 'string',
                    minLength: 1,
                    maxLength: 128,
                    description: 'e.detail.code, single use',
                  },
                },
              },
              openDataBody,
            ],
          }),
        },
        responses: {
          '200': { description: 'The phone number, watermark removed', content: json(ref('PhoneNumber')) },
          ...openDataErrors,
          '400': error(
            'invalid_request, invalid_grant (the code is unknown, expired or used: ask the user again), decrypt_failed, or invalid_open_data.',
          ),
          '403': error("access_denied: WeChat's risk control refused the user."),
          '429': error('rate_limited (ours, or WeChat 45011); see Retry-After.'),
          ...upstreamErrors,
        },
      },
    },
    '/wechat/user-info': {
      post: {
        summary: 'Decrypt user info; checks signature = sha1(rawData + session_key) when given',
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: openDataContent({
            ...openDataBody,
            properties: {
              ...openDataBody.properties,
              rawData: { type: 'string', description: 'e.detail.rawData; sent together with signature' },
              signature: {
                type: 'string',
                pattern: '^[0-9a-fA-F]{40}$',
                description: 'e.detail.signature: sha1(rawData + session_key), hex',
              },
            },
          }),
        },
        responses: {
          '200': { description: 'The user info, watermark removed', content: json(ref('OpenData')) },
          ...openDataErrors,
        },
      },
    },
    '/wechat/decrypt': {
      post: {
        summary: 'Decrypt any open data (share info, WeRun…)',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: openDataContent(openDataBody) },
        responses: {
          '200': { description: 'The decrypted object, watermark removed', content: json(ref('OpenData')) },
          ...openDataErrors,
        },
      },
    },
    '/wechat/session': {
      get: {
        summary: 'Whether WeChat still holds the stored session_key (checkSessionKey)',
        description:
          'false: the phone called wx.login() since the last POST /auth/login, so open data it sends no longer decrypts here.',
        security: [{ bearer: [] }],
        responses: {
          '200': {
            description: 'Answer',
            content: json({
              type: 'object',
              required: ['session_key_valid'],
              properties: { session_key_valid: { type: 'boolean' } },
            }),
          },
          ...bearerOrLoginRequired,
          '429': error('rate_limited; see Retry-After.'),
          ...upstreamErrors,
          ...storeErrors,
        },
      },
    },
    '/.well-known/jwks.json': {
      get: {
        summary: 'Public signing keys',
        responses: {
          '200': {
            description: 'JWKS',
            content: json({
              type: 'object',
              required: ['keys'],
              properties: { keys: { type: 'array', items: { type: 'object' } } },
            }),
          },
        },
      },
    },
    '/healthz': {
      get: {
        summary: 'Liveness',
        responses: {
          '200': {
            description: 'Serving',
            content: json({ type: 'object', properties: { status: { const: 'ok' } } }),
          },
        },
      },
    },
    '/readyz': {
      get: {
        summary: 'Readiness: the store answers',
        responses: { '200': { description: 'Ready' }, '503': error('The store does not answer.') },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        description: 'With METRICS_PORT set, served only on that listener; 404 here.',
        responses: {
          '200': { description: 'Text format', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      },
    },
    '/openapi.json': {
      get: {
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
      },
    },
  },
} as const;

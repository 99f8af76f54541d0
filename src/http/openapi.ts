/**
 * The OpenAPI 3.1 document of every route in shared/API.md, served at GET /openapi.json. Tests validate
 * it with a real OpenAPI validator and check that every route the app serves is in it.
 */
const errorCodes = [
  'invalid_request',
  'invalid_grant',
  'invalid_token',
  'decrypt_failed',
  'invalid_open_data',
  'invalid_signature',
  'login_required',
  'access_denied',
  'rate_limited',
  'upstream_unavailable',
  'temporarily_unavailable',
  'server_error',
];

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
  properties: {
    encryptedData: { type: 'string', description: 'base64, from the button event (e.detail.encryptedData)' },
    iv: { type: 'string', description: 'base64 of 16 bytes (e.detail.iv)' },
  },
};
const openDataErrors = {
  ...badRequest,
  '400': error(
    'invalid_request, decrypt_failed (stale session_key: wx.login again), invalid_open_data or invalid_signature.',
  ),
  ...bearerErrors,
  '401': error('invalid_token, or login_required when no session_key is stored for the user.'),
  ...storeErrors,
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'wxauth',
    version: '0.1.0',
    description: 'Login and session service for WeChat mini-programs. Contract: shared/API.md.',
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
        summary: "The user's phone number: current API (button code) or legacy (encryptedData + iv)",
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: json({
            oneOf: [
              { type: 'object', required: ['code'], properties: { code: { type: 'string' } } },
              openDataBody,
            ],
          }),
        },
        responses: {
          '200': { description: 'The phone number', content: json(ref('PhoneNumber')) },
          ...openDataErrors,
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
          content: json({
            ...openDataBody,
            properties: {
              ...openDataBody.properties,
              rawData: { type: 'string' },
              signature: { type: 'string' },
            },
          }),
        },
        responses: {
          '200': { description: 'The user info', content: json(ref('OpenData')) },
          ...openDataErrors,
        },
      },
    },
    '/wechat/decrypt': {
      post: {
        summary: 'Decrypt any open data (share info, WeRun…)',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: json(openDataBody) },
        responses: {
          '200': { description: 'The decrypted object', content: json(ref('OpenData')) },
          ...openDataErrors,
        },
      },
    },
    '/wechat/session': {
      get: {
        summary: 'Whether WeChat still holds the stored session_key (checkSessionKey)',
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
          ...bearerErrors,
          '401': error('invalid_token, or login_required when no session_key is stored.'),
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

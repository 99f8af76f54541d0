import { z } from 'zod';
import { StartedWebLogin, WebLoginPoll, WebLoginRequest } from '../auth/web-login.js';
import { ErrorBody } from '../errors/index.js';
import { TokenResponse } from '../tokens/index.js';
import { PhoneNumber } from '../wechat/index.js';
import { answerSchemaOf, pathsOf } from './declare.js';
import { AUTH_ROUTES } from './routes/auth.js';
import { FORWARD_AUTH_ROUTES } from './routes/forward-auth.js';
import { HEALTH_ROUTES } from './routes/health.js';
import { Discovery, OAUTH_ROUTES, OAuthTokenAnswer } from './routes/oauth.js';
import { QR_ROUTES } from './routes/qr.js';
import { SESSION_ROUTES, SessionsAnswer } from './routes/sessions.js';
import { WECHAT_ROUTES } from './routes/wechat.js';

/**
 * The OpenAPI 3.1 document of every public route, served at GET /openapi.json: the shared components
 * (the answers' shapes) from the zod schemas the answering code takes its types from, the paths assembled from the routes' declarations (declare.ts),
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
        'Login and session service for WeChat mini-programs, and the other apps of their open-platform account (a person is linked across them by unionid): code2Session, access JWTs, rotating refresh tokens, open-data decryption. Paths match exactly (case, no trailing slash); a method a path lacks gets 405, one no route has 501, both invalid_request with the methods to use in Allow.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: `JWT (at+jwt, ${options.algorithms.join(' or ')})`,
        },
      },
      // Each answer's shape is the zod schema beside the code that answers it (its type comes from it too).
      schemas: {
        Error: answerSchemaOf(ErrorBody),
        TokenResponse: answerSchemaOf(TokenResponse),
        PhoneNumber: answerSchemaOf(PhoneNumber),
        OpenData: answerSchemaOf(
          z.looseObject({}).meta({ description: 'The decrypted object, watermark removed.' }),
        ),
        Sessions: answerSchemaOf(SessionsAnswer),
        WebLoginStarted: answerSchemaOf(StartedWebLogin),
        WebLoginRequest: answerSchemaOf(WebLoginRequest),
        WebLoginPoll: answerSchemaOf(WebLoginPoll),
        Discovery: answerSchemaOf(Discovery),
        OAuthTokenResponse: answerSchemaOf(OAuthTokenAnswer),
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

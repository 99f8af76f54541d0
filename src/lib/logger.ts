import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks in every line. The code never logs bodies, tokens or keys; this is the second
 * line of defence should a future log call pass one by mistake.
 */
export const REDACTED_PATHS = [
  'session_key',
  'sessionKey',
  'refresh_token',
  'refreshToken',
  'access_token',
  'accessToken',
  'secret',
  'code',
  'authorization',
  '*.session_key',
  '*.sessionKey',
  '*.refresh_token',
  '*.refreshToken',
  '*.access_token',
  '*.accessToken',
  '*.secret',
  '*.code',
  '*.authorization',
  '*.headers.authorization',
  '*.encryptedData',
  '*.iv',
];

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'wxauth' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

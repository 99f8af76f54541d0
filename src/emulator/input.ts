/**
 * A control operation refused. In process it is an ordinary Error; over HTTP its status and `error`
 * make the JSON answer.
 */
export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    readonly status: 400 | 404 | 409 | 413,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

export function invalid(message: string): ControlError {
  return new ControlError(400, 'invalid_request', message);
}

export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}

export function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      `${what} has unknown field(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ') || 'none'}.`,
    );
  }
}

export function optionalString(
  value: unknown,
  name: string,
  pattern: RegExp,
  shape: string,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(`${name} must be ${shape}.`);
  return value;
}

export function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${name} must be true or false.`);
  return value;
}

export function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}.`);
  }
  return value;
}

/** Identifiers tests may choose (readable ones like 'o-alice' included); WeChat's own are 'o' + 27. */
export { OPENID_PATTERN as ID_PATTERN, OPENID_SHAPE as ID_SHAPE } from '../lib/index.js';

import { OPENID_PATTERN as ID_PATTERN, OPENID_SHAPE as ID_SHAPE } from '../lib/index.js';

export function requireOpenid(value: unknown): string {
  if (value === undefined) throw invalid('openid is required.');
  return optionalString(value, 'openid', ID_PATTERN, ID_SHAPE)!;
}

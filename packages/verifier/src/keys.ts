import { importJWK, type JWK } from 'jose';
import { InvalidTokenError, JwksUnavailableError } from './errors.js';

/** The part of fetch's answer this package reads: Node's global fetch, or any other of that shape. */
export interface FetchResponse {
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}
export type Fetch = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<FetchResponse>;

/** Asymmetric JWS algorithms: a key of any other (HS256, none) is never used, whatever the JWKS says. */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);

export interface VerificationKey {
  alg: string;
  key: Awaited<ReturnType<typeof importJWK>>;
}

export interface RemoteKeysOptions {
  issuer: string;
  jwksUri: string | undefined;
  cooldownMs: number;
  maxAgeMs: number | undefined;
  timeoutMs: number;
  now(): number;
  fetch: Fetch;
  onError: ((error: Error) => void) | undefined;
}

/** The JWKS's max-age when it sends none. */
const DEFAULT_MAX_AGE_MS = 300_000;
const MAX_MAX_AGE_MS = 86_400_000;
/** While no key was ever had, a failed fetch is tried again this often at most (concurrent callers share one). */
const RETRY_WITHOUT_KEYS_MS = 1000;

/**
 * The issuer's public keys: found by discovery (unless jwksUri is given), fetched once and kept. An
 * unknown kid fetches the set again at most once per cooldown, so a rotation needs no restart and a
 * flood of forged kids costs the issuer one request per cooldown. Past the JWKS's max-age the set is
 * fetched again in the background; a failed fetch keeps the keys already had.
 */
export class RemoteKeys {
  private keys: Map<string, VerificationKey> | undefined;
  private jwksUri: string | undefined;
  private staleAt = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  /** The last fetch's failure; undefined once one succeeds. */
  private lastError: JwksUnavailableError | undefined;
  private inflight: Promise<void> | undefined;
  /** Incremented when a fetch drops a key, so that tokens verified with it are verified again. */
  generation = 0;

  constructor(private readonly options: RemoteKeysOptions) {
    this.jwksUri = options.jwksUri;
  }

  async get(kid: string): Promise<VerificationKey> {
    if (!this.keys) await this.load(RETRY_WITHOUT_KEYS_MS);
    let entry = this.keys!.get(kid);
    if (entry) {
      if (this.options.now() >= this.staleAt) this.refreshInBackground();
      return entry;
    }
    if (this.options.now() - this.lastAttempt < this.options.cooldownMs) {
      // The last fetch failed: the kid may be a new key we could not fetch.
      if (this.lastError) throw this.lastError;
      throw new InvalidTokenError('The access token was not signed by a key of its issuer (unknown kid).');
    }
    await this.load(this.options.cooldownMs);
    entry = this.keys!.get(kid);
    if (!entry)
      throw new InvalidTokenError('The access token was not signed by a key of its issuer (unknown kid).');
    return entry;
  }

  /** Fetches now (discovery first, when needed); rejects with the reason when that fails. */
  async ready(): Promise<void> {
    if (!this.keys) await this.load(0);
  }

  private refreshInBackground(): void {
    if (this.inflight || this.options.now() - this.lastAttempt < this.options.cooldownMs) return;
    this.load(this.options.cooldownMs).catch((error: Error) => this.options.onError?.(error));
  }

  private load(minIntervalMs: number): Promise<void> {
    if (this.inflight) return this.inflight;
    const now = this.options.now();
    if (this.lastError && now - this.lastAttempt < minIntervalMs) return Promise.reject(this.lastError);
    this.lastAttempt = now;
    this.inflight = this.fetchKeys()
      .then(
        () => {
          this.lastError = undefined;
        },
        (error: unknown) => {
          const retryAfter = Math.max(
            1,
            Math.ceil((this.keys ? this.options.cooldownMs : RETRY_WITHOUT_KEYS_MS) / 1000),
          );
          this.lastError =
            error instanceof JwksUnavailableError
              ? error
              : new JwksUnavailableError(
                  `The issuer's keys could not be loaded: ${String(error)}`,
                  retryAfter,
                  error,
                );
          throw this.lastError;
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.jwksUri ??= await this.discover();
    const { body, maxAgeMs } = await this.fetchJson(this.jwksUri, 'the JWKS');
    const listed = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(listed)) throw this.unavailable(`the JWKS at ${this.jwksUri} has no "keys" array`);
    const keys = new Map<string, VerificationKey>();
    for (const jwk of listed as JWK[]) {
      if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string')
        continue;
      if ((jwk.use !== undefined && jwk.use !== 'sig') || !ASYMMETRIC_ALGORITHMS.has(jwk.alg)) continue;
      // A private member in a published set is the issuer's fault; the key is not trusted either way.
      if ('d' in jwk || 'k' in jwk) continue;
      try {
        keys.set(jwk.kid, { alg: jwk.alg, key: await importJWK(jwk, jwk.alg) });
      } catch {
        // A key this runtime cannot import is skipped; tokens naming it are refused as unknown.
      }
    }
    if (keys.size === 0) throw this.unavailable(`the JWKS at ${this.jwksUri} holds no usable signing key`);
    if (this.keys && [...this.keys.keys()].some((kid) => !keys.has(kid))) this.generation += 1;
    this.keys = keys;
    this.staleAt =
      this.options.now() +
      Math.min(
        MAX_MAX_AGE_MS,
        Math.max(this.options.cooldownMs, this.options.maxAgeMs ?? maxAgeMs ?? DEFAULT_MAX_AGE_MS),
      );
  }

  /** OpenID Connect Discovery: the issuer's own document names its JWKS, and must name the issuer. */
  private async discover(): Promise<string> {
    const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const { body } = await this.fetchJson(url, 'the discovery document');
    const { issuer, jwks_uri: jwksUri } = (body ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (issuer !== this.options.issuer)
      throw this.unavailable(
        `the discovery document at ${url} names the issuer ${JSON.stringify(issuer)}, not ${JSON.stringify(this.options.issuer)}`,
      );
    if (typeof jwksUri !== 'string' || !/^https?:\/\//.test(jwksUri))
      throw this.unavailable(`the discovery document at ${url} has no http(s) jwks_uri`);
    return jwksUri;
  }

  private async fetchJson(
    url: string,
    what: string,
  ): Promise<{ body: unknown; maxAgeMs: number | undefined }> {
    let response: FetchResponse;
    try {
      response = await this.options.fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw this.unavailable(
        `${what} could not be fetched from ${url} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
        error,
      );
    }
    if (!response.ok) throw this.unavailable(`${what} at ${url} answered HTTP ${response.status}`);
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw this.unavailable(`${what} at ${url} is not JSON`, error);
    }
    const maxAge = /(?:^|,)\s*max-age=(\d+)/i.exec(response.headers.get('cache-control') ?? '')?.[1];
    return { body, maxAgeMs: maxAge === undefined ? undefined : Number(maxAge) * 1000 };
  }

  private unavailable(reason: string, cause?: unknown): JwksUnavailableError {
    const retryMs = this.keys ? this.options.cooldownMs : RETRY_WITHOUT_KEYS_MS;
    return new JwksUnavailableError(
      `The issuer's keys are unavailable: ${reason}.`,
      Math.max(1, Math.ceil(retryMs / 1000)),
      cause,
    );
  }
}

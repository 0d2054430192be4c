import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { isTokenStoreError, supportsLeases, type PartialToken, type Token, type TokenLeases, type TokenStore } from "@tokenstore/core";
import { ReauthorizationRequiredError, RefreshError, TokenManagerError } from "./errors.js";
import { createOAuthRefresher, createOAuthRevoker, type OAuthOptions, type RefreshResult, type Refresher, type Revoker } from "./oauth.js";

export interface TokenManagerOptions {
  /** Where tokens live. With a store that offers leases, refreshes are coordinated across processes. */
  store: TokenStore;
  /** A standard OAuth 2.0 token endpoint to refresh with (and optionally revoke). */
  oauth?: OAuthOptions | undefined;
  /** Any other way to refresh; takes precedence over `oauth`. */
  refresher?: Refresher | undefined;
  /** Any other way to revoke; takes precedence over `oauth.revocationEndpoint`. */
  revoker?: Revoker | undefined;
  /** Refresh when the access token expires within this many ms (covers clock skew and latency). Default 60 000. */
  refreshMarginMs?: number | undefined;
  /** Use the store's leases when it has them. Default true. */
  useLeases?: boolean | undefined;
  /** How long a refresh lease lasts: a dead holder blocks others at most this long. Default 30 000. */
  leaseTtlMs?: number | undefined;
  /** Longest one refresh (request + answer) may take; must be below `leaseTtlMs`. Default 20 000. */
  refreshTimeoutMs?: number | undefined;
  /** Longest a caller waits for another process's refresh before REFRESH_TIMEOUT. Default 60 000. */
  waitTimeoutMs?: number | undefined;
  /** First delay between polls of the store while another process refreshes; doubles up to 250 ms. Default 50. */
  pollIntervalMs?: number | undefined;
  /** OAuth error codes that mean "authorise again". Default ["invalid_grant", "invalid_code"] (Zoho says invalid_code). */
  reauthorizeErrors?: readonly string[] | undefined;
  /** Lease holder name; default unique per manager (host:pid:random). */
  holder?: string | undefined;
  /** The clock, epoch ms. Default Date.now. */
  now?: (() => number) | undefined;
}

const MAX_POLL_MS = 250;

type LeasingStore = TokenStore & TokenLeases;

interface HeldLease {
  /** Until when (performance.now()) the lease is surely ours. */
  validUntil: number;
  /** Stops renewing; resolves once no renewal is in flight. */
  stop(): Promise<void>;
}
const SAVE_ATTEMPTS = 3;

/**
 * Hands out valid access tokens: reads the stored token on every call, and when it expires
 * within the margin refreshes it once (per process with single flight, across processes with the
 * store's lease), saves the result, and only then returns it.
 */
export class TokenManager {
  readonly store: TokenStore;
  readonly holder: string;
  readonly #refresher: Refresher;
  readonly #revoker: Revoker | undefined;
  readonly #marginMs: number;
  readonly #useLeases: boolean;
  readonly #leaseTtlMs: number;
  readonly #refreshTimeoutMs: number;
  readonly #waitTimeoutMs: number;
  readonly #pollMs: number;
  readonly #reauthorizeErrors: ReadonlySet<string>;
  readonly #now: () => number;
  /** Single flight: token id → the refresh in progress in this process. */
  readonly #flights = new Map<string, Promise<Token>>();

  constructor(options: TokenManagerOptions) {
    const invalid = (message: string) => new TokenManagerError("INVALID_OPTIONS", message);
    if (!options?.store || typeof options.store.findToken !== "function") throw invalid("store is required");
    this.store = options.store;
    const refresher = options.refresher ?? (options.oauth ? createOAuthRefresher(options.oauth) : undefined);
    if (!refresher) throw invalid("give either oauth (a token endpoint) or refresher");
    this.#refresher = refresher;
    this.#revoker = options.revoker ?? (options.oauth ? createOAuthRevoker(options.oauth) : undefined);
    this.#marginMs = positive(options.refreshMarginMs, 60_000, "refreshMarginMs", true);
    this.#leaseTtlMs = positive(options.leaseTtlMs, 30_000, "leaseTtlMs");
    this.#refreshTimeoutMs = positive(options.refreshTimeoutMs, Math.min(20_000, Math.floor(this.#leaseTtlMs * 2 / 3)), "refreshTimeoutMs");
    this.#waitTimeoutMs = positive(options.waitTimeoutMs, 60_000, "waitTimeoutMs");
    this.#pollMs = positive(options.pollIntervalMs, 50, "pollIntervalMs");
    this.#useLeases = (options.useLeases ?? true) && supportsLeases(this.store);
    if (this.#useLeases && this.#refreshTimeoutMs >= this.#leaseTtlMs) {
      throw invalid("refreshTimeoutMs must be below leaseTtlMs, so that a refresh never outlives its lease");
    }
    this.#reauthorizeErrors = new Set(options.reauthorizeErrors ?? ["invalid_grant", "invalid_code"]);
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#now = options.now ?? Date.now;
  }

  /** True when refreshes are coordinated across processes (the store has leases and they are on). */
  get coordinatesAcrossProcesses(): boolean {
    return this.#useLeases;
  }

  /** A valid access token for the token `partial` refers to, refreshed first if needed. */
  async getAccessToken(partial: PartialToken): Promise<string> {
    return (await this.getToken(partial)).accessToken!;
  }

  /** The whole stored token (e.g. for `apiDomain`), with a valid access token. */
  async getToken(partial: PartialToken): Promise<Token> {
    const token = await this.#find(partial);
    if (this.isFresh(token)) return token;
    return this.#flight(token, false);
  }

  /** Refreshes now, whatever the expiry (e.g. after the API answered 401). Concurrent calls still refresh once. */
  async refresh(partial: PartialToken): Promise<Token> {
    return this.#flight(await this.#find(partial), true);
  }

  /** Deletes the stored token. Resolves false when none matches. */
  async forget(partial: PartialToken): Promise<boolean> {
    const token = await this.store.findToken(partial);
    if (!token) return false;
    await this.#settled(token.id);
    return this.store.deleteToken(token.id);
  }

  /**
   * Revokes the token at the provider (when a revocation endpoint or revoker is configured),
   * then deletes it. If the provider refuses, throws REVOCATION_FAILED and keeps the token.
   */
  async revoke(partial: PartialToken): Promise<boolean> {
    const token = await this.store.findToken(partial);
    if (!token) return false;
    await this.#settled(token.id);
    if (this.#revoker) await this.#withTimeout(token.id, (context) => this.#revoker!(token, context), this.#refreshTimeoutMs);
    return this.store.deleteToken(token.id);
  }

  /** True when the token has an access token that does not expire within the margin. No expiry = no known end. */
  isFresh(token: Token): boolean {
    return !!token.accessToken && (token.expiresAt === null || token.expiresAt - this.#marginMs > this.#now());
  }

  /** Waits for this process's refresh of the token, if any, so that its save cannot bring a deleted token back. */
  async #settled(id: string): Promise<void> {
    await this.#flights.get(id)?.catch(() => undefined);
  }

  async #find(partial: PartialToken): Promise<Token> {
    const token = await this.store.findToken(partial);
    if (!token) throw new TokenManagerError("TOKEN_NOT_FOUND", "no stored token matches");
    return token;
  }

  #flight(observed: Token, force: boolean): Promise<Token> {
    let flight = this.#flights.get(observed.id);
    if (!flight) {
      flight = this.#coordinate(observed, force).finally(() => this.#flights.delete(observed.id));
      this.#flights.set(observed.id, flight);
    }
    return flight;
  }

  /** Refreshes under the lease, or waits for the process that holds it. */
  async #coordinate(observed: Token, force: boolean): Promise<Token> {
    const id = observed.id;
    // What counts as done: a fresh token; when forced, also a different one than the caller saw.
    const done = (t: Token) => this.isFresh(t) && (!force || t.accessToken !== observed.accessToken || (t.expiresAt ?? 0) > (observed.expiresAt ?? 0));
    if (!this.#useLeases) return this.#refreshHolding(id, done);
    const store = this.store as LeasingStore;
    // Lease and wait times run on the monotonic clock: wall-clock jumps must not shorten them.
    const deadline = performance.now() + this.#waitTimeoutMs;
    let delay = this.#pollMs;
    for (;;) {
      const asked = performance.now();
      let acquired: boolean;
      try {
        acquired = await store.acquireLease(id, this.holder, this.#leaseTtlMs);
      } catch (error) {
        if (isTokenStoreError(error, "NOT_FOUND")) throw notFound(id);
        throw error;
      }
      if (acquired) {
        const lease = this.#keepLease(store, id, asked + this.#leaseTtlMs);
        try {
          return await this.#refreshHolding(id, done, lease);
        } finally {
          await lease.stop();
          // Best effort: if this fails the lease still expires by itself.
          await store.releaseLease(id, this.holder).catch(() => false);
        }
      }
      // Another process refreshes: wait for its token to appear. If it dies, its lease expires
      // and the next acquireLease above takes over.
      await sleep(delay);
      delay = Math.min(delay * 2, MAX_POLL_MS);
      const current = await this.store.findTokenById(id);
      if (!current) throw notFound(id);
      if (done(current)) return current;
      if (performance.now() > deadline) {
        throw new TokenManagerError("REFRESH_TIMEOUT", `waited ${this.#waitTimeoutMs} ms for another process to refresh`, { tokenId: id });
      }
    }
  }

  /**
   * Renews a lease every third of its length while we hold it, so that a slow store or provider
   * never lets it lapse under a live holder (a dead one stops renewing). `validUntil` is how long
   * it is surely ours; 0 once another holder has it.
   */
  #keepLease(store: LeasingStore, id: string, validUntil: number): HeldLease {
    let timer: NodeJS.Timeout | undefined;
    let renewing: Promise<unknown> = Promise.resolve();
    let stopped = false;
    const lease: HeldLease = {
      validUntil,
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await renewing; // a renewal landing after the release would re-take the lease
      },
    };
    const renew = () => {
      const asked = performance.now();
      renewing = store.acquireLease(id, this.holder, this.#leaseTtlMs).then(
        (ok) => (lease.validUntil = ok ? asked + this.#leaseTtlMs : 0),
        () => undefined, // keep the old validUntil: it runs out by itself
      );
      void renewing.then(() => {
        if (!stopped) timer = setTimeout(renew, this.#leaseTtlMs / 3);
      });
    };
    timer = setTimeout(renew, this.#leaseTtlMs / 3);
    return lease;
  }

  /**
   * Holding the lease (or alone): re-read, refresh if still needed, save, return the saved token.
   * The provider call ends before the lease could lapse, so that no request outlives it.
   */
  async #refreshHolding(id: string, done: (t: Token) => boolean, lease: Pick<HeldLease, "validUntil"> = { validUntil: Infinity }): Promise<Token> {
    let current = await this.store.findTokenById(id);
    if (!current) throw notFound(id);
    if (done(current)) return current; // another process refreshed while we waited for the lease
    for (let retried = false; ; retried = true) {
      let result: RefreshResult;
      try {
        const token = current;
        const timeoutMs = Math.min(this.#refreshTimeoutMs, lease.validUntil - performance.now());
        result = checkResult(await this.#withTimeout(id, (context) => this.#refresher(token, context), timeoutMs), id);
      } catch (error) {
        if (!this.#needsReauthorization(error)) throw error;
        // Re-read before giving up: another process (or a lease that expired under us) may have
        // rotated the refresh token. If so, use that token instead of bothering the user.
        const latest = await this.store.findTokenById(id);
        if (latest && latest.refreshToken !== current.refreshToken && !retried) {
          if (this.isFresh(latest)) return latest;
          current = latest;
          continue;
        }
        if (error instanceof ReauthorizationRequiredError) throw error;
        const oauthError = (error as RefreshError).oauthError;
        throw new ReauthorizationRequiredError(`the provider rejected the refresh token (${oauthError}): authorise the app again`, {
          tokenId: id,
          oauthError,
          status: (error as RefreshError).status,
          cause: error,
        });
      }
      return this.#save(id, result);
    }
  }

  #needsReauthorization(error: unknown): boolean {
    if (error instanceof ReauthorizationRequiredError) return true;
    return error instanceof RefreshError && error.oauthError !== undefined && this.#reauthorizeErrors.has(error.oauthError);
  }

  /** Saves before anyone uses the new token; retried briefly, since a lost save loses a rotated refresh token. */
  async #save(id: string, result: RefreshResult): Promise<Token> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store.saveToken({
          id,
          accessToken: result.accessToken,
          expiresAt: result.expiresAt,
          refreshToken: result.refreshToken || null, // "" would erase the stored one
          apiDomain: result.apiDomain || null,
        });
      } catch (error) {
        if (attempt >= SAVE_ATTEMPTS || !isTokenStoreError(error, "BACKEND_UNAVAILABLE")) throw error;
        await sleep(100 * 4 ** (attempt - 1));
      }
    }
  }

  /** Runs a provider call bounded by `timeoutMs`, with an AbortSignal for it. */
  async #withTimeout<T>(id: string, task: (context: { signal: AbortSignal; now: () => number }) => Promise<T>, timeoutMs: number): Promise<T> {
    if (timeoutMs <= 0) throw new TokenManagerError("REFRESH_TIMEOUT", "the lease is no longer surely ours: not calling the provider", { tokenId: id });
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new TokenManagerError("REFRESH_TIMEOUT", `the provider did not answer within ${timeoutMs} ms`, { tokenId: id }));
      }, timeoutMs);
    });
    try {
      return await Promise.race([task({ signal: controller.signal, now: this.#now }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function createTokenManager(options: TokenManagerOptions): TokenManager {
  return new TokenManager(options);
}

function checkResult(result: RefreshResult, id: string): RefreshResult {
  const bad = (what: string) => new RefreshError(`the refresher returned ${what}`, { tokenId: id });
  if (!result || typeof result !== "object") throw bad("no result");
  if (typeof result.accessToken !== "string" || result.accessToken === "") throw bad("no access token");
  if (!(Number.isSafeInteger(result.expiresAt) && result.expiresAt > 100_000_000_000)) {
    throw bad("an expiresAt that is not epoch milliseconds");
  }
  return result;
}

function notFound(id: string): TokenManagerError {
  return new TokenManagerError("TOKEN_NOT_FOUND", "the token was deleted", { tokenId: id });
}

function positive(value: number | undefined, fallback: number, name: string, zeroOk = false): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || (!zeroOk && value === 0)) {
    throw new TokenManagerError("INVALID_OPTIONS", `${name} must be a ${zeroOk ? "non-negative" : "positive"} integer (ms)`);
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

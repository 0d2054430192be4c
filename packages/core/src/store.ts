import { describeCause, isUnreachableError, TokenStoreError } from "./errors.js";
import { planSave, selectorFor, type SavePlan, type Selector } from "./rules.js";
import { compareIds, normalizeToken, toToken, type PartialToken, type Token, type TokenField } from "./token.js";

/**
 * The contract every store meets, with the same results in every case.
 * All methods are async; after `close()` every other method rejects with STORE_CLOSED.
 */
export interface TokenStore {
  /**
   * The stored token that `partial` refers to under the matching rules, or `null` when none
   * matches or `partial` has no usable key. Rejects with INVALID_TOKEN for a malformed partial.
   */
  findToken(partial: PartialToken): Promise<Token | null>;
  /**
   * Upserts: updates the stored token the rules match (null/undefined fields keep their stored
   * values), else inserts a new token with the given id or a store-generated decimal id.
   * Resolves with the token as stored. Rejects with NO_KEY when the token has no usable key and
   * CONFLICT when a user + client, access, grant or refresh token belongs to another token.
   */
  saveToken(token: PartialToken): Promise<Token>;
  /** Deletes the token with this id. Resolves `true` if it existed, `false` for an unknown id. */
  deleteToken(id: string): Promise<boolean>;
  /** Every stored token, ordered by id (numerically for decimal ids); `[]` when empty. */
  getTokens(): Promise<Token[]>;
  /** Deletes every token of this store (only this store's, in a shared database). */
  deleteTokens(): Promise<void>;
  /** The token with this id, or `null` for an unknown id. */
  findTokenById(id: string): Promise<Token | null>;
  /** Releases what the store created (pools, files). Idempotent. Never closes an app's own client. */
  close(): Promise<void>;
}

/**
 * Optional capability: a short lease on one token that only one holder can have at a time.
 * It expires by itself if its holder dies. The token manager uses it so that one process
 * refreshes a token while the others wait.
 */
export interface TokenLeases {
  /**
   * Takes (or, for its current holder, renews) the lease on token `id` for `ttlMs`.
   * Resolves `true` if `holder` now holds it, `false` if another live holder does.
   * Rejects with NOT_FOUND when no token has this id.
   */
  acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives up the lease if `holder` holds it. Resolves `true` if it did, `false` otherwise. */
  releaseLease(id: string, holder: string): Promise<boolean>;
}

export type LeasingTokenStore = TokenStore & TokenLeases;

export function supportsLeases(store: TokenStore): store is LeasingTokenStore {
  const s = store as Partial<TokenLeases>;
  return typeof s.acquireLease === "function" && typeof s.releaseLease === "function";
}

/** A stored row as an adapter reads it: the token's fields, before checks. */
export type TokenRow = Record<TokenField, unknown>;

export interface BaseStoreOptions {
  /**
   * Longest time one operation may take before it rejects with BACKEND_UNAVAILABLE, in ms.
   * A safety net above the driver's own timeouts; 0 turns it off. Default 10 000.
   */
  operationTimeoutMs?: number;
}

/** Attempts at a save whose writes keep losing races (at most ~2 s of backoff in all). */
const SAVE_ATTEMPTS = 10;

/**
 * The shared half of every adapter: checks input, applies the rules, turns rows into tokens,
 * guards against use after close and bounds every operation in time. An adapter supplies only
 * the backend primitives below, each carrying out one plan atomically.
 */
export abstract class BaseTokenStore implements TokenStore {
  /** Short backend name used in errors, e.g. "postgres". */
  abstract readonly storeName: string;

  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #timeoutMs: number;

  constructor(options: BaseStoreOptions = {}) {
    this.#timeoutMs = options.operationTimeoutMs ?? 10_000;
  }

  /** The row the selector picks (first condition that matches, lowest id), or null. */
  protected abstract selectRow(selector: Selector): Promise<TokenRow | null>;
  /**
   * Atomically: update the row the plan's selector picks with the plan's non-null values, or
   * insert a new row (the plan's id, else a fresh never-used id). Resolves the stored row, or
   * `null` when a concurrent writer won a race (the core then retries the whole plan).
   * Rejects with CONFLICT when a unique key belongs to another token.
   */
  protected abstract upsertRow(plan: SavePlan): Promise<TokenRow | null>;
  protected abstract selectRowById(id: string): Promise<TokenRow | null>;
  protected abstract deleteRow(id: string): Promise<boolean>;
  /** Every row, in any order. */
  protected abstract selectAllRows(): Promise<TokenRow[]>;
  protected abstract deleteAllRows(): Promise<void>;
  protected abstract closeBackend(): Promise<void>;

  /**
   * Maps a backend error to a TokenStoreError. The default says "unavailable" for network
   * errors and "backend error" otherwise, with only the error's code in the message.
   */
  protected toStoreError(error: unknown, operation: string): TokenStoreError {
    if (error instanceof TokenStoreError) return error;
    const unreachable = isUnreachableError(error);
    return new TokenStoreError(
      unreachable ? "BACKEND_UNAVAILABLE" : "BACKEND_ERROR",
      `${operation} failed: ${unreachable ? "backend unavailable" : "backend error"} (${describeCause(error)})`,
      { cause: error, store: this.storeName },
    );
  }

  async findToken(partial: PartialToken): Promise<Token | null> {
    this.#checkOpen("findToken");
    const selector = selectorFor(normalizeToken(partial));
    if (!selector) return null;
    const row = await this.run("findToken", () => this.selectRow(selector));
    return row ? toToken(row, this.storeName) : null;
  }

  async saveToken(token: PartialToken): Promise<Token> {
    this.#checkOpen("saveToken");
    const plan = planSave(token);
    for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
      // Racing writers that all lost back off by a random, growing delay, so they stop colliding.
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 2 ** attempt * 2));
      const row = await this.run("saveToken", () => this.upsertRow(plan));
      if (row) return toToken(row, this.storeName);
    }
    throw new TokenStoreError("BACKEND_ERROR", `saveToken failed: lost ${SAVE_ATTEMPTS} races in a row`, { store: this.storeName });
  }

  async deleteToken(id: string): Promise<boolean> {
    this.#checkOpen("deleteToken");
    if (!validId(id)) return false;
    return this.run("deleteToken", () => this.deleteRow(id));
  }

  async getTokens(): Promise<Token[]> {
    this.#checkOpen("getTokens");
    const rows = await this.run("getTokens", () => this.selectAllRows());
    return rows.map((row) => toToken(row, this.storeName)).sort((a, b) => compareIds(a.id, b.id));
  }

  async deleteTokens(): Promise<void> {
    this.#checkOpen("deleteTokens");
    await this.run("deleteTokens", () => this.deleteAllRows());
  }

  async findTokenById(id: string): Promise<Token | null> {
    this.#checkOpen("findTokenById");
    if (!validId(id)) return null;
    const row = await this.run("findTokenById", () => this.selectRowById(id));
    return row ? toToken(row, this.storeName) : null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.closeBackend();
    await this.#closing;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs one backend operation: closed check, time bound, error mapping. For adapters' own extra methods too. */
  protected async run<T>(operation: string, task: () => Promise<T>): Promise<T> {
    this.#checkOpen(operation);
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = task();
      if (this.#timeoutMs <= 0) return await work;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TokenStoreError("BACKEND_UNAVAILABLE", `${operation} failed: no answer from the backend within ${this.#timeoutMs} ms`, { store: this.storeName })),
          this.#timeoutMs,
        );
      });
      return await Promise.race([work, timeout]);
    } catch (error) {
      throw this.toStoreError(error, operation);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw new TokenStoreError("STORE_CLOSED", `${operation} called on a closed store`, { store: this.storeName });
  }
}

/** Validates lease arguments for adapters; throws INVALID_OPTIONS. */
export function checkLeaseArgs(id: string, holder: string, ttlMs?: number): void {
  if (!validId(id)) throw new TokenStoreError("INVALID_OPTIONS", "lease id must be a non-empty string");
  if (typeof holder !== "string" || holder === "") throw new TokenStoreError("INVALID_OPTIONS", "lease holder must be a non-empty string");
  if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)) {
    throw new TokenStoreError("INVALID_OPTIONS", "lease ttlMs must be a positive integer");
  }
}

function validId(id: unknown): id is string {
  if (typeof id !== "string") throw new TokenStoreError("INVALID_TOKEN", `an id must be a string, got ${id === null ? "null" : typeof id}`);
  return id !== "";
}

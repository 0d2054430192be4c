import { TokenStoreError } from "./errors.js";
import { conflictError, matchesCondition, mergeToken, newToken, type Condition, type SavePlan, type Selector } from "./rules.js";
import { compareIds, COUNTER_ID, type Token } from "./token.js";

/**
 * The rules applied to tokens held in this process: the engine behind the memory and file
 * stores, indexed on every lookup key. Not thread-safe across processes by itself; the file
 * store locks around it.
 */
export class TokenTable {
  readonly #byId = new Map<string, Token>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #byIdentity = new Map<string, string>();
  readonly #byAccess = new Map<string, string>();
  readonly #byGrant = new Map<string, string>();
  readonly #byRefresh = new Map<string, string>();
  #nextId = 1;

  /** @param nextId the next id to hand out; ids are never reused, even after a delete. */
  constructor(tokens: Iterable<Token> = [], nextId = 1, store?: string) {
    this.#nextId = nextId;
    for (const token of tokens) {
      if (this.#byId.has(token.id)) throw new TokenStoreError("CORRUPT_DATA", `two stored tokens have the id "${token.id}"`, { store });
      const clash = this.#conflict(token);
      if (clash) throw new TokenStoreError("CORRUPT_DATA", `stored tokens "${token.id}" and another share one ${clash} key`, { store });
      this.#index(token);
      this.#bumpNextId(token.id);
    }
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The next id this table will generate. */
  get nextId(): number {
    return this.#nextId;
  }

  find(selector: Selector): Token | null {
    for (const condition of selector.anyOf) {
      let best: Token | null = null;
      for (const token of this.#candidates(condition)) {
        if (matchesCondition(token, condition) && (best === null || compareIds(token.id, best.id) < 0)) best = token;
      }
      if (best) return best;
    }
    return null;
  }

  get(id: string): Token | null {
    return this.#byId.get(id) ?? null;
  }

  /** Carries out a save plan. Throws CONFLICT when a unique key belongs to another token. */
  save(plan: SavePlan, store?: string): Token {
    const stored = this.find(plan.selector);
    const next = stored ? mergeToken(stored, plan.values) : newToken(plan.id ?? this.#freshId(), plan.values);
    const clash = this.#conflict(next);
    if (clash) throw conflictError(clash, store);
    if (stored) this.#unindex(stored);
    this.#index(next);
    this.#bumpNextId(next.id);
    return next;
  }

  delete(id: string): boolean {
    const token = this.#byId.get(id);
    if (!token) return false;
    this.#unindex(token);
    return true;
  }

  clear(): void {
    for (const map of [this.#byId, this.#byUser, this.#byIdentity, this.#byAccess, this.#byGrant, this.#byRefresh]) map.clear();
  }

  /** Every token, ordered by id. */
  list(): Token[] {
    return [...this.#byId.values()].sort((a, b) => compareIds(a.id, b.id));
  }

  #candidates(condition: Condition): Iterable<Token> {
    const ids = condition.id !== undefined
      ? [condition.id]
      : condition.userName !== undefined
        ? this.#byUser.get(condition.userName) ?? []
        : condition.accessToken !== undefined
          ? [this.#byAccess.get(condition.accessToken)]
          : condition.grantToken !== undefined
            ? [this.#byGrant.get(condition.grantToken)]
            : condition.refreshToken !== undefined
              ? [this.#byRefresh.get(condition.refreshToken)]
              : null;
    if (ids === null) return this.#byId.values();
    const out: Token[] = [];
    for (const id of ids) {
      const token = id === undefined ? undefined : this.#byId.get(id);
      if (token) out.push(token);
    }
    return out;
  }

  #conflict(token: Token): "identity" | "access" | "grant" | "refresh" | null {
    const owner = (map: Map<string, string>, k: string | null) => (k === null ? undefined : map.get(k));
    const checks = [
      ["identity", owner(this.#byIdentity, identity(token))],
      ["access", owner(this.#byAccess, nonEmpty(token.accessToken))],
      ["grant", owner(this.#byGrant, nonEmpty(token.grantToken))],
      ["refresh", owner(this.#byRefresh, nonEmpty(token.refreshToken))],
    ] as const;
    for (const [name, id] of checks) if (id !== undefined && id !== token.id) return name;
    return null;
  }

  #index(token: Token): void {
    this.#byId.set(token.id, token);
    if (nonEmpty(token.userName) !== null) {
      let ids = this.#byUser.get(token.userName!);
      if (!ids) this.#byUser.set(token.userName!, (ids = new Set()));
      ids.add(token.id);
    }
    setIf(this.#byIdentity, identity(token), token.id);
    setIf(this.#byAccess, nonEmpty(token.accessToken), token.id);
    setIf(this.#byGrant, nonEmpty(token.grantToken), token.id);
    setIf(this.#byRefresh, nonEmpty(token.refreshToken), token.id);
  }

  #unindex(token: Token): void {
    this.#byId.delete(token.id);
    if (token.userName) {
      const ids = this.#byUser.get(token.userName);
      ids?.delete(token.id);
      if (ids?.size === 0) this.#byUser.delete(token.userName);
    }
    deleteIf(this.#byIdentity, identity(token), token.id);
    deleteIf(this.#byAccess, nonEmpty(token.accessToken), token.id);
    deleteIf(this.#byGrant, nonEmpty(token.grantToken), token.id);
    deleteIf(this.#byRefresh, nonEmpty(token.refreshToken), token.id);
  }

  /** The counter's next id, skipping ids already taken (given ids the counter does not track). */
  #freshId(): string {
    while (this.#byId.has(String(this.#nextId))) this.#nextId++;
    return String(this.#nextId++);
  }

  #bumpNextId(id: string): void {
    if (COUNTER_ID.test(id)) this.#nextId = Math.max(this.#nextId, Number(id) + 1);
  }
}

function nonEmpty(value: string | null): string | null {
  return value === null || value === "" ? null : value;
}

function identity(token: Token): string | null {
  return token.userName ? JSON.stringify([token.userName, token.clientId || null]) : null;
}

function setIf(map: Map<string, string>, k: string | null, id: string): void {
  if (k !== null && !map.has(k)) map.set(k, id);
}

function deleteIf(map: Map<string, string>, k: string | null, id: string): void {
  if (k !== null && map.get(k) === id) map.delete(k);
}

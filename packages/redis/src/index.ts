import { createHash } from "node:crypto";
import {
  BaseTokenStore,
  UNIQUE_KEY_FIELDS,
  checkLeaseArgs,
  identityDigest,
  isUnreachableError,
  keyDigest,
  mergeToken,
  TOKEN_FIELDS,
  toToken,
  TokenStoreError,
  uniqueKeys,
  conflictError,
  type BaseStoreOptions,
  type Condition,
  type SavePlan,
  type Selector,
  type TokenField,
  type TokenLeases,
  type TokenRow,
  type TokenValues,
  type UniqueKeys,
} from "@tokenstore/core";
import { Redis, type Cluster } from "ioredis";
import {
  ACQUIRE_LEASE_SCRIPT,
  ALL_SCRIPT,
  DELETE_ALL_SCRIPT,
  DELETE_SCRIPT,
  FIND_SCRIPT,
  FIXED_KEYS,
  RELEASE_LEASE_SCRIPT,
  SAVE_SCRIPT,
} from "./scripts.js";

export { FIXED_KEYS } from "./scripts.js";

export interface RedisStoreOptions extends BaseStoreOptions {
  /** `redis://` or `rediss://` URL of a standalone server; the store owns (and closes) the client. */
  url?: string;
  /** The app's own ioredis `Redis` or `Cluster` client. Never closed by the store. */
  client?: Redis | Cluster;
  /**
   * Isolates this store's keys in a shared database. Wrapped in a hash tag (`{tokenstore:}…`) so
   * one store lives in one Cluster slot; a prefix that already holds a `{tag}` is used as is.
   * Default "tokenstore:".
   */
  prefix?: string;
  /** Connect timeout of a client the store creates from `url`, in ms. Default 2 000. */
  connectTimeoutMs?: number;
}

type Kind = keyof UniqueKeys;
type StringField = Exclude<keyof TokenValues, "expiresAt">;
type Client = Redis | Cluster;

const KINDS: readonly Kind[] = ["identity", "user", "access", "grant", "refresh"];

const FIELD_SET = new Set<string>(TOKEN_FIELDS);

/** Errors ioredis raises (without a network code) when the server cannot be reached. */
const UNAVAILABLE_NAMES = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError"]);
const UNAVAILABLE_MESSAGES = /^(Connection is closed|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY)\b)/;

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

const SCRIPTS = {
  find: script(FIND_SCRIPT),
  save: script(SAVE_SCRIPT),
  delete: script(DELETE_SCRIPT),
  all: script(ALL_SCRIPT),
  deleteAll: script(DELETE_ALL_SCRIPT),
  acquire: script(ACQUIRE_LEASE_SCRIPT),
  release: script(RELEASE_LEASE_SCRIPT),
};

/**
 * Keeps tokens in Redis (standalone or Cluster). Every operation is one Lua script, so it is
 * atomic and one round trip. The one exception: a save that changes only half of the user +
 * client key (e.g. a new user name, the stored client id) takes a second script run, which
 * writes only if the stored half is unchanged.
 */
export class RedisTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = "redis";
  // Private: printing the store must not print the client, whose options hold the password.
  readonly #client: Client;
  /** The key base (hash tag included) this store's keys start with. */
  readonly keyBase: string;
  readonly #ownsClient: boolean;
  /** The base as the server sees it: with the client's own `keyPrefix`, which ioredis adds to KEYS but not to ARGV. */
  readonly #serverBase: string;
  readonly #fixedKeys: string[];

  constructor(options: RedisStoreOptions) {
    super(options ?? {});
    if (!options || typeof options !== "object") throw invalidOptions("options must be an object with a url or a client");
    if ((options.url === undefined) === (options.client === undefined)) throw invalidOptions("give exactly one of url and client");
    this.keyBase = keyBase(options.prefix ?? "tokenstore:");
    if (options.client !== undefined) {
      if (typeof (options.client as { evalsha?: unknown }).evalsha !== "function") throw invalidOptions("client must be an ioredis Redis or Cluster");
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = createClient(options.url!, options.connectTimeoutMs ?? 2_000);
      this.#ownsClient = true;
    }
    this.#serverBase = (this.#client.options.keyPrefix ?? "") + this.keyBase;
    this.#fixedKeys = FIXED_KEYS.map((k) => this.keyBase + k);
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    const flat = await this.#eval<string[] | null>(SCRIPTS.find, JSON.stringify(selectorPairs(selector)));
    return flat ? rowFrom(flat) : null;
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow | null> {
    const request: SaveRequest = {
      selector: selectorPairs(plan.selector),
      values: valuePairs(plan.values),
      id: plan.id ?? undefined,
      newKeys: keysForRedis(uniqueKeys(plan.values)),
      keys: updateKeys(plan.values),
    };
    let reply = await this.#eval<SaveReply>(SCRIPTS.save, JSON.stringify(request));
    if (reply[0] === "need") {
      // A key depends on stored values (e.g. a new user name with the stored client id):
      // compute it with core from the stored token, and write only if those values are unchanged.
      const stored = toToken(rowFrom(reply[1]), this.storeName);
      const merged = uniqueKeys(mergeToken(stored, plan.values));
      const keys = { ...request.keys };
      const guard: Guard = [stored.id, []];
      for (const kind of KINDS) {
        if (!Array.isArray(keys[kind])) continue;
        keys[kind] = merged[kind] ?? false;
        for (const field of UNIQUE_KEY_FIELDS[kind]) if (plan.values[field] === null) guard[1].push([field, stored[field] ?? false]);
      }
      reply = await this.#eval<SaveReply>(SCRIPTS.save, JSON.stringify({ ...request, keys, guard }));
    }
    switch (reply[0]) {
      case "ok":
        return rowFrom(reply[1]);
      case "conflict":
        throw conflictError(reply[1], this.storeName);
      case "retry":
        return null;
      default:
        throw new TokenStoreError("BACKEND_ERROR", "saveToken failed: unexpected reply from the save script", { store: this.storeName });
    }
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    return this.selectRow({ anyOf: [{ id }] });
  }

  protected async deleteRow(id: string): Promise<boolean> {
    return (await this.#eval<number>(SCRIPTS.delete, id)) === 1;
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return (await this.#eval<string[][]>(SCRIPTS.all)).map(rowFrom);
  }

  protected async deleteAllRows(): Promise<void> {
    await this.#eval(SCRIPTS.deleteAll);
  }

  protected async closeBackend(): Promise<void> {
    if (!this.#ownsClient) return;
    const client = this.#client as Redis;
    if (client.status === "ready") await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }

  protected override toStoreError(error: unknown, operation: string): TokenStoreError {
    if (error instanceof TokenStoreError || isUnreachableError(error) || !(error instanceof Error)) return super.toStoreError(error, operation);
    if (UNAVAILABLE_NAMES.has(error.name) || UNAVAILABLE_MESSAGES.test(error.message)) {
      // ioredis messages for these name the condition only, never data.
      return new TokenStoreError("BACKEND_UNAVAILABLE", `${operation} failed: backend unavailable (${error.name}: ${error.message.slice(0, 80)})`, {
        cause: error,
        store: this.storeName,
      });
    }
    return super.toStoreError(error, operation);
  }

  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      const keys = [this.#tokenKey(id), this.#leaseKey(id)];
      const result = await this.#evalKeys<number>(SCRIPTS.acquire, keys, [holder, String(ttlMs)]);
      if (result === -1) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      return result === 1;
    });
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => (await this.#evalKeys<number>(SCRIPTS.release, [this.#leaseKey(id)], [holder])) === 1);
  }

  #tokenKey(id: string): string {
    return `${this.keyBase}token:${id}`;
  }

  #leaseKey(id: string): string {
    return `${this.keyBase}lease:${id}`;
  }

  /** Runs a store script: the fixed keys, then the server-side base and the request. */
  #eval<T>(s: Script, ...args: string[]): Promise<T> {
    return this.#evalKeys<T>(s, this.#fixedKeys, [this.#serverBase, ...args]);
  }

  /** EVALSHA, loading the script with EVAL when the server does not know it yet (new or restarted server). */
  async #evalKeys<T>(s: Script, keys: string[], args: string[]): Promise<T> {
    try {
      return (await this.#client.evalsha(s.sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return (await this.#client.eval(s.source, keys.length, ...keys, ...args)) as T;
    }
  }
}

export function createRedisStore(options: RedisStoreOptions): RedisTokenStore {
  return new RedisTokenStore(options);
}

// ---------------------------------------------------------------- translation

type Pair = [kind: "id" | Kind, value: string];

interface SaveRequest {
  selector: Pair[][];
  values: [TokenField, string][];
  id: string | undefined;
  newKeys: Partial<Record<Kind, string | false>>;
  keys: Partial<Record<Kind, string | false | StringField[]>>;
  guard?: Guard;
}

/** The stored token's id and the stored values a computed key used (false for null). */
type Guard = [id: string, fields: [TokenField, string | false][]];

type SaveReply = ["ok", string[]] | ["conflict", Kind] | ["need", string[]] | ["retry"];

/**
 * A core condition as (kind, value) pairs the scripts check: the id itself, or the digest of a
 * key. The first pair picks the candidates, so unique keys go first and the user name last.
 */
export function conditionPairs(condition: Condition): Pair[] {
  const pairs: Pair[] = [];
  if (condition.id !== undefined) pairs.push(["id", condition.id]);
  if (condition.userName !== undefined && condition.clientId !== undefined) pairs.push(["identity", identityDigest(condition.userName, condition.clientId)]);
  if (condition.accessToken !== undefined) pairs.push(["access", keyDigest(condition.accessToken)]);
  if (condition.grantToken !== undefined) pairs.push(["grant", keyDigest(condition.grantToken)]);
  if (condition.refreshToken !== undefined) pairs.push(["refresh", keyDigest(condition.refreshToken)]);
  if (condition.userName !== undefined && condition.clientId === undefined) pairs.push(["user", keyDigest(condition.userName)]);
  if (condition.clientId !== undefined && condition.userName === undefined) {
    throw new TokenStoreError("UNSUPPORTED", "a condition on clientId without userName has no index in the redis store", { store: "redis" });
  }
  if (pairs.length === 0) throw new TokenStoreError("UNSUPPORTED", "an empty condition cannot be looked up", { store: "redis" });
  return pairs;
}

export function selectorPairs(selector: Selector): Pair[][] {
  return selector.anyOf.map(conditionPairs);
}

/** The non-null values of a save, as strings (null fields are absent from the hash, so null and "" stay apart). */
export function valuePairs(values: TokenValues): [TokenField, string][] {
  const pairs: [TokenField, string][] = [];
  for (const [field, value] of Object.entries(values) as [TokenField, string | number | null][]) {
    if (value !== null) pairs.push([field, String(value)]);
  }
  return pairs;
}

function keysForRedis(keys: UniqueKeys): Record<Kind, string | false> {
  return Object.fromEntries(KINDS.map((k) => [k, keys[k] ?? false])) as Record<Kind, string | false>;
}

/**
 * The unique keys an update gives the stored token, as far as the saved values decide them:
 * absent when none of a key's fields is saved (the stored key stays); the saved fields' names
 * when only some are (the script keeps the stored key if they equal the stored ones, else asks
 * for core's `uniqueKeys` of the merged token).
 */
export function updateKeys(values: TokenValues): Partial<Record<Kind, string | false | StringField[]>> {
  const computed = uniqueKeys(values);
  const keys: Partial<Record<Kind, string | false | StringField[]>> = {};
  for (const kind of KINDS) {
    const given = UNIQUE_KEY_FIELDS[kind].filter((f) => values[f] !== null);
    if (given.length === UNIQUE_KEY_FIELDS[kind].length) keys[kind] = computed[kind] ?? false;
    else if (given.length > 0) keys[kind] = given;
  }
  return keys;
}

/** A token hash (HGETALL) as a row: absent fields are null, expiresAt a number. */
export function rowFrom(flat: string[]): TokenRow {
  const row = Object.fromEntries(TOKEN_FIELDS.map((f) => [f, null])) as Record<TokenField, unknown>;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]!;
    const value = flat[i + 1]!;
    if (!FIELD_SET.has(field)) continue;
    // A non-decimal expiry stays a string, which core rejects as CORRUPT_DATA.
    row[field as TokenField] = field === "expiresAt" && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  }
  return row;
}

/** The key base: the prefix inside a hash tag, so every key of the store maps to one Cluster slot. */
export function keyBase(prefix: string): string {
  if (typeof prefix !== "string" || prefix === "") throw invalidOptions("prefix must be a non-empty string");
  if (/\{[^{}]+\}/.test(prefix)) return prefix;
  if (/[{}]/.test(prefix)) throw invalidOptions("prefix must not contain braces unless it holds a complete {hash tag}");
  return `{${prefix}}`;
}

function createClient(url: string, connectTimeoutMs: number): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidOptions("url is not a valid URL");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw invalidOptions(`url must start with redis:// or rediss://, got ${parsed.protocol}//`);
  if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs <= 0) throw invalidOptions("connectTimeoutMs must be a positive integer");
  const client = new Redis(url, {
    connectTimeout: connectTimeoutMs,
    // Calls made while the server is down fail after one reconnect attempt instead of queueing
    // forever; ioredis keeps reconnecting, so the same store works again when it is back.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 100, 500),
  });
  // Failed calls already reject with BACKEND_UNAVAILABLE; without a listener ioredis would log every reconnect failure.
  client.on("error", () => {});
  return client;
}

function invalidOptions(message: string): TokenStoreError {
  return new TokenStoreError("INVALID_OPTIONS", message, { store: "redis" });
}


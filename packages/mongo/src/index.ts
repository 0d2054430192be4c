import {
  BaseTokenStore,
  UNIQUE_KEY_FIELDS,
  COUNTER_ID,
  checkLeaseArgs,
  conflictError,
  identityDigest,
  keyDigest,
  matchesCondition,
  mergeToken,
  TokenStoreError,
  TokenTable,
  toToken,
  uniqueKeys,
  type BaseStoreOptions,
  type Condition,
  type SavePlan,
  type Selector,
  type Token,
  type TokenLeases,
  type TokenRow,
  type TokenValues,
  type UniqueKeys,
} from "@tokenstore/core";
import {
  Long,
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
} from "mongodb";

export interface MongoStoreOptions extends BaseStoreOptions {
  /** `mongodb://` or `mongodb+srv://` URL; the store owns (and closes) the client. */
  url?: string;
  /** The app's own database handle. Never closed by the store. */
  db?: Db;
  /** The app's own client (with `database`). Never closed by the store. */
  client?: MongoClient;
  /** Database name for `url` or `client`; default: the URL's database, else "test". */
  database?: string;
  /** Collection of tokens. Default "tokens". */
  collection?: string;
  /** Collection of id counters (one document per token collection). Default "tokenstore_counters". */
  countersCollection?: string;
  /** Server selection and connect timeout of a client the store creates from `url`, in ms. Default 2 000. */
  connectTimeoutMs?: number;
}

type Kind = keyof UniqueKeys;
type StringField = Exclude<keyof TokenValues, "expiresAt">;

/** A stored token. `_id` is the token's string id (never an ObjectId); `keys` are core's unique-key digests. */
export interface TokenDocument {
  _id: string;
  userName: string | null;
  clientId: string | null;
  clientSecret: string | null;
  refreshToken: string | null;
  accessToken: string | null;
  grantToken: string | null;
  expiresAt: Long | null;
  redirectUrl: string | null;
  apiDomain: string | null;
  keys: Record<Kind, string | null>;
  lease?: { holder: string; until: Date };
}

interface CounterDocument {
  _id: string;
  seq: Long | number;
}

const KINDS: readonly Kind[] = ["identity", "user", "access", "grant", "refresh"];
const UNIQUE_KINDS: readonly Kind[] = ["identity", "access", "grant", "refresh"];
const STRING_FIELDS: readonly StringField[] = ["userName", "clientId", "clientSecret", "refreshToken", "accessToken", "grantToken", "redirectUrl", "apiDomain"];

const DUPLICATE_KEY = 11000;
const INDEX_PREFIX = "tokenstore_";

/**
 * The collection's indexes: each unique key of core's rules is unique over the tokens that
 * have it (partial index), so concurrent saves cannot create two tokens for one key; the user
 * name alone is indexed for lookups without a client id.
 */
export function indexSpecs(): IndexDescription[] {
  return KINDS.map((kind) => ({
    key: { [`keys.${kind}`]: 1 },
    name: INDEX_PREFIX + kind,
    unique: kind !== "user",
    partialFilterExpression: { [`keys.${kind}`]: { $type: "string" } },
  }));
}

/** Creates the indexes (idempotent, safe to run from several processes at once). */
export async function migrate(target: Db | MongoStoreOptions, collection = "tokens"): Promise<void> {
  if (isDb(target)) {
    await target.collection(checkName(collection, "collection")).createIndexes(indexSpecs());
    return;
  }
  const store = new MongoTokenStore(target);
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

/**
 * Keeps tokens in a MongoDB collection. A find is one query; a save that updates the token a
 * unique key names is one findOneAndUpdate; other saves read first, then update the token
 * they picked only if it is unchanged (or insert with a counter id).
 */
export class MongoTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = "mongo";
  readonly db: Db;
  readonly tokens: Collection<TokenDocument>;
  readonly #counters: Collection<CounterDocument>;
  readonly #ownedClient: MongoClient | undefined;
  #ready: Promise<void> | undefined;

  constructor(options: MongoStoreOptions) {
    super(options ?? {});
    if (!options || typeof options !== "object") throw invalidOptions("options must be an object with a url, a client or a db");
    const given = [options.url, options.client, options.db].filter((x) => x !== undefined).length;
    if (given !== 1) throw invalidOptions("give exactly one of url, client and db");
    const collection = checkName(options.collection ?? "tokens", "collection");
    const counters = checkName(options.countersCollection ?? "tokenstore_counters", "countersCollection");
    if (options.db !== undefined) {
      if (!isDb(options.db)) throw invalidOptions("db must be a mongodb Db");
      this.db = options.db;
    } else if (options.client !== undefined) {
      if (typeof options.client.db !== "function") throw invalidOptions("client must be a mongodb MongoClient");
      this.db = options.client.db(options.database);
    } else {
      this.#ownedClient = createClient(options.url!, options.connectTimeoutMs ?? 2_000);
      this.db = this.#ownedClient.db(options.database);
    }
    this.tokens = this.db.collection<TokenDocument>(collection);
    this.#counters = this.db.collection<CounterDocument>(counters);
  }

  /** Creates the indexes now (otherwise done before the first operation). */
  async migrate(): Promise<void> {
    await this.run("migrate", () => this.#ensureIndexes());
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    await this.#ensureIndexes();
    const picked = await this.#pick(selector);
    return picked ? picked.row : null;
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow | null> {
    await this.#ensureIndexes();
    const keys = updateKeys(plan.values);
    const partial = KINDS.filter((kind) => Array.isArray(keys[kind]));
    const [only, ...more] = plan.selector.anyOf;
    if (more.length === 0 && isUniqueCondition(only)) {
      // One round trip: the condition names at most one token. A key whose fields are only
      // partly saved stays as stored when the saved fields equal the stored ones, which the
      // filter requires (e.g. a refresh saved by refresh token with the same client id).
      const filter = conditionFilter(only);
      for (const kind of partial) for (const field of keys[kind] as StringField[]) filter[field] = plan.values[field];
      const updated = await this.#update(filter, updateDocument(plan.values, decidedKeys(keys)));
      if (updated) return rowFrom(updated);
      if (partial.length === 0) return this.#insert(plan);
    }
    const picked = await this.#pick(plan.selector);
    if (!picked) return this.#insert(plan);
    // Update the picked token only if it still matches and the stored values its new keys came from are unchanged.
    const stored = picked.token;
    const merged = uniqueKeys(mergeToken(stored, plan.values));
    const filter: Document = { ...conditionFilter(picked.condition), _id: stored.id };
    const known: Partial<Record<Kind, string | null>> = {};
    for (const kind of KINDS) {
      if (keys[kind] === undefined) continue;
      known[kind] = merged[kind];
      if (Array.isArray(keys[kind])) for (const field of UNIQUE_KEY_FIELDS[kind]) if (plan.values[field] === null) filter[field] = stored[field];
    }
    const updated = await this.#update(filter, updateDocument(plan.values, known));
    return updated ? rowFrom(updated) : null;
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    await this.#ensureIndexes();
    const doc = await this.tokens.findOne({ _id: id });
    return doc ? rowFrom(doc) : null;
  }

  protected async deleteRow(id: string): Promise<boolean> {
    await this.#ensureIndexes();
    return (await this.tokens.deleteOne({ _id: id })).deletedCount === 1;
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    await this.#ensureIndexes();
    return (await this.tokens.find({}).toArray()).map(rowFrom);
  }

  protected async deleteAllRows(): Promise<void> {
    await this.#ensureIndexes();
    // The counter stays: ids are never reused.
    await this.tokens.deleteMany({});
  }

  protected async closeBackend(): Promise<void> {
    await this.#ownedClient?.close();
  }

  protected override toStoreError(error: unknown, operation: string): TokenStoreError {
    if (error instanceof TokenStoreError) return error;
    if (isUnavailable(error)) {
      const name = (error as Error).name;
      // These messages name hosts and timeouts, never data.
      const detail = error instanceof MongoServerSelectionError || error instanceof MongoNetworkError ? `: ${error.message.slice(0, 160)}` : "";
      return new TokenStoreError("BACKEND_UNAVAILABLE", `${operation} failed: backend unavailable (${name}${detail})`, { cause: error, store: this.storeName });
    }
    if (error instanceof MongoServerError) {
      // Server errors can quote values (e.g. a duplicate key's keyValue): only the code goes in
      // our message, and the error itself is not attached as the cause.
      return new TokenStoreError("BACKEND_ERROR", `${operation} failed: backend error (MongoServerError ${String(error.code)}${error.codeName ? ` ${error.codeName}` : ""})`, { store: this.storeName });
    }
    return super.toStoreError(error, operation);
  }

  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      await this.#ensureIndexes();
      // Server time ($$NOW), so clocks of different app servers do not matter.
      const free = { $or: [{ $eq: ["$lease.holder", { $literal: holder }] }, { $not: [{ $gt: ["$lease.until", "$$NOW"] }] }] };
      const doc = await this.tokens.findOneAndUpdate(
        { _id: id },
        [{ $set: { lease: { $cond: { if: free, then: { holder: { $literal: holder }, until: { $add: ["$$NOW", ttlMs] } }, else: "$lease" } } } }],
        { returnDocument: "after", projection: { lease: 1 } },
      );
      if (!doc) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      return doc.lease?.holder === holder;
    });
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => {
      await this.#ensureIndexes();
      const result = await this.tokens.updateOne({ _id: id, "lease.holder": holder, $expr: { $gt: ["$lease.until", "$$NOW"] } }, { $unset: { lease: "" } });
      return result.modifiedCount === 1;
    });
  }

  #ensureIndexes(): Promise<void> {
    this.#ready ??= this.tokens.createIndexes(indexSpecs()).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined; // try again on the next call
        throw error;
      },
    );
    return this.#ready;
  }

  /** The token the selector picks: one query for every condition, then core's own rules choose. */
  async #pick(selector: Selector): Promise<{ row: TokenRow; token: Token; condition: Condition } | null> {
    const docs = await this.tokens.find(selectorFilter(selector)).toArray();
    if (docs.length === 0) return null;
    const rows = new Map(docs.map((doc) => [doc._id, rowFrom(doc)]));
    const token = new TokenTable([...rows.values()].map((row) => toToken(row, this.storeName)), 1, this.storeName).find(selector);
    if (!token) return null;
    const condition = selector.anyOf.find((c) => matchesCondition(token, c))!;
    return { row: rows.get(token.id)!, token, condition };
  }

  /** Updates the one token `filter` names; null when none matches. CONFLICT when a unique key belongs to another token. */
  async #update(filter: Document, update: Document | null): Promise<TokenDocument | null> {
    if (update === null) return this.tokens.findOne(filter);
    try {
      return await this.tokens.findOneAndUpdate(filter, update, { returnDocument: "after" });
    } catch (error) {
      if (isDuplicateKey(error)) throw conflictError(keyOrNull(duplicateKind(error)), this.storeName);
      throw error;
    }
  }

  /** Inserts the plan as a new token. Null when a concurrent save won a race the core should retry. */
  async #insert(plan: SavePlan): Promise<TokenRow | null> {
    const id = plan.id ?? (await this.#nextId());
    const doc = newDocument(id, plan.values);
    try {
      await this.tokens.insertOne(doc);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const kind = duplicateKind(error);
      // The id was taken meanwhile: the retry updates that token (a given id) or draws a new id.
      if (kind === "id") return null;
      // A unique key is taken: by the token this plan selects (a concurrent insert, the retry
      // updates it), or by another token (a conflict).
      const selected = await this.tokens.findOne(selectorFilter(plan.selector), { projection: { _id: 1 } });
      if (selected) return null;
      throw conflictError(keyOrNull(kind), this.storeName);
    }
    // Generated ids must never collide with imported decimal ones.
    if (plan.id !== null && COUNTER_ID.test(plan.id)) {
      await this.#counters.updateOne({ _id: this.tokens.collectionName }, { $max: { seq: Long.fromString(plan.id) } }, { upsert: true });
    }
    return rowFrom(doc);
  }

  async #nextId(): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const counter = await this.#counters.findOneAndUpdate({ _id: this.tokens.collectionName }, { $inc: { seq: Long.fromNumber(1) } }, { upsert: true, returnDocument: "after" });
        return String(counter!.seq);
      } catch (error) {
        // Two first-ever upserts can race on the counter's _id; the second then finds it.
        if (attempt > 0 || !isDuplicateKey(error)) throw error;
      }
    }
  }
}

export function createMongoStore(options: MongoStoreOptions): MongoTokenStore {
  return new MongoTokenStore(options);
}

// ---------------------------------------------------------------- translation

/** A core condition as a filter: the indexed key digest plus every field's exact value. */
export function conditionFilter(condition: Condition): Document {
  const filter: Document = {};
  if (condition.id !== undefined) filter._id = condition.id;
  if (condition.userName !== undefined) {
    if (condition.clientId !== undefined) filter["keys.identity"] = identityDigest(condition.userName, condition.clientId);
    else filter["keys.user"] = keyDigest(condition.userName);
    filter.userName = condition.userName;
  } else if (condition.clientId !== undefined) {
    throw new TokenStoreError("UNSUPPORTED", "a condition on clientId without userName has no index in the mongo store", { store: "mongo" });
  }
  if (condition.clientId !== undefined) filter.clientId = condition.clientId;
  if (condition.accessToken !== undefined) {
    filter["keys.access"] = keyDigest(condition.accessToken);
    filter.accessToken = condition.accessToken;
  }
  if (condition.grantToken !== undefined) {
    filter["keys.grant"] = keyDigest(condition.grantToken);
    filter.grantToken = condition.grantToken;
  }
  if (condition.refreshToken !== undefined) {
    filter["keys.refresh"] = keyDigest(condition.refreshToken);
    filter.refreshToken = condition.refreshToken;
  }
  if (Object.keys(filter).length === 0) throw new TokenStoreError("UNSUPPORTED", "an empty condition cannot be looked up", { store: "mongo" });
  return filter;
}

/** Every token any condition matches (core then picks among them). */
export function selectorFilter(selector: Selector): Document {
  const filters = selector.anyOf.map(conditionFilter);
  return filters.length === 1 ? filters[0]! : { $or: filters };
}

/** True when the condition can match at most one token (the id or a unique key). */
export function isUniqueCondition(condition: Condition): boolean {
  return condition.id !== undefined || (condition.userName !== undefined && condition.clientId !== undefined) || condition.accessToken !== undefined || condition.grantToken !== undefined || condition.refreshToken !== undefined;
}

/**
 * The unique keys an update gives the stored token, as far as the saved values decide them:
 * absent when none of a key's fields is saved (the stored key stays); the saved fields' names
 * when only some are (the key then depends on the stored token, and core's `uniqueKeys`
 * computes it unless the saved fields equal the stored ones).
 */
export function updateKeys(values: TokenValues): Partial<Record<Kind, string | null | StringField[]>> {
  const computed = uniqueKeys(values);
  const keys: Partial<Record<Kind, string | null | StringField[]>> = {};
  for (const kind of KINDS) {
    const given = UNIQUE_KEY_FIELDS[kind].filter((f) => values[f] !== null);
    if (given.length === UNIQUE_KEY_FIELDS[kind].length) keys[kind] = computed[kind];
    else if (given.length > 0) keys[kind] = given;
  }
  return keys;
}

/** The keys `updateKeys` decided outright. */
function decidedKeys(keys: Partial<Record<Kind, string | null | StringField[]>>): Partial<Record<Kind, string | null>> {
  const decided: Partial<Record<Kind, string | null>> = {};
  for (const kind of KINDS) {
    const key = keys[kind];
    if (key !== undefined && !Array.isArray(key)) decided[kind] = key;
  }
  return decided;
}

/** The merge as an update: `$set` of the non-null values and of the keys they change; null when nothing changes. */
export function updateDocument(values: TokenValues, keys: Partial<Record<Kind, string | null>>): Document | null {
  const set: Document = {};
  for (const field of STRING_FIELDS) if (values[field] !== null) set[field] = values[field];
  if (values.expiresAt !== null) set.expiresAt = Long.fromNumber(values.expiresAt);
  for (const kind of KINDS) if (keys[kind] !== undefined) set[`keys.${kind}`] = keys[kind];
  return Object.keys(set).length === 0 ? null : { $set: set };
}

/** A new token's document: every field present, absent values null. */
export function newDocument(id: string, values: TokenValues): TokenDocument {
  const keys = uniqueKeys(values);
  return {
    _id: id,
    userName: values.userName,
    clientId: values.clientId,
    clientSecret: values.clientSecret,
    refreshToken: values.refreshToken,
    accessToken: values.accessToken,
    grantToken: values.grantToken,
    expiresAt: values.expiresAt === null ? null : Long.fromNumber(values.expiresAt),
    redirectUrl: values.redirectUrl,
    apiDomain: values.apiDomain,
    keys: { identity: keys.identity, user: keys.user, access: keys.access, grant: keys.grant, refresh: keys.refresh },
  };
}

/** A stored document as a row; core's `toToken` rejects anything that is not a token. */
export function rowFrom(doc: Document): TokenRow {
  const row = { id: doc._id, expiresAt: toNumber(doc.expiresAt) } as TokenRow;
  for (const field of STRING_FIELDS) row[field] = doc[field];
  return row;
}

/** int64 as the driver hands it out (number, Long, or bigint with `useBigInt64`). */
function toNumber(value: unknown): unknown {
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= 0n ? Number(value) : value;
  if (value instanceof Long) return value.lessThanOrEqual(Long.fromNumber(Number.MAX_SAFE_INTEGER)) ? value.toNumber() : value;
  return value;
}

// ---------------------------------------------------------------- helpers

function createClient(url: string, connectTimeoutMs: number): MongoClient {
  if (typeof url !== "string" || !/^mongodb(\+srv)?:\/\//.test(url)) throw invalidOptions("url must start with mongodb:// or mongodb+srv://");
  if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs <= 0) throw invalidOptions("connectTimeoutMs must be a positive integer");
  try {
    return new MongoClient(url, { serverSelectionTimeoutMS: connectTimeoutMs, connectTimeoutMS: connectTimeoutMs, appName: "tokenstore" });
  } catch (error) {
    throw new TokenStoreError("INVALID_OPTIONS", `url is not a valid MongoDB URL (${(error as Error).name})`, { store: "mongo" });
  }
}

function isDb(value: unknown): value is Db {
  return typeof value === "object" && value !== null && typeof (value as Db).collection === "function" && typeof (value as Db).databaseName === "string";
}

/** Collection names are passed to the driver, never into a query; still refuse the ones MongoDB rejects or reserves. */
function checkName(name: unknown, option: string): string {
  if (typeof name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$/.test(name) || name.startsWith("system.")) {
    throw invalidOptions(`${option} must be 1-120 characters of letters, digits, _ . - (not starting with "system.")`);
  }
  return name;
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError || error instanceof MongoTopologyClosedError) return true;
  // Driver 6.x releases without client-side operation timeouts lack this class: match its name.
  if (error instanceof Error && error.name === "MongoOperationTimeoutError") return true;
  return error instanceof MongoServerError && (error.hasErrorLabel("RetryableWriteError") || error.hasErrorLabel("ResetPool"));
}

function isDuplicateKey(error: unknown): error is MongoServerError {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

/** Which key a duplicate-key error is about ("id", a unique key, or null if unknown), from the key pattern or index name only. */
function duplicateKind(error: MongoServerError): Kind | "id" | null {
  const pattern = (error as { keyPattern?: Record<string, unknown> }).keyPattern;
  const field = pattern ? Object.keys(pattern)[0] : /index: (\S+)/.exec(error.message)?.[1];
  if (field === "_id" || field === "_id_") return "id";
  return UNIQUE_KINDS.find((kind) => field === `keys.${kind}` || field === INDEX_PREFIX + kind) ?? null;
}

function keyOrNull(kind: Kind | "id" | null): Kind | null {
  return kind === "id" ? null : kind;
}

function invalidOptions(message: string): TokenStoreError {
  return new TokenStoreError("INVALID_OPTIONS", message, { store: "mongo" });
}

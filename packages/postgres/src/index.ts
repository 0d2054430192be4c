import { createHash } from "node:crypto";
import pg from "pg";
import {
  BaseTokenStore,
  COUNTER_ID,
  checkLeaseArgs,
  conflictError,
  describeCause,
  isUnreachableError,
  keyDigest,
  TokenStoreError,
  uniqueKeys,
  type BaseStoreOptions,
  type Condition,
  type MatchField,
  type SavePlan,
  type Selector,
  type TokenLeases,
  type TokenRow,
  type UniqueKeys,
} from "@tokenstore/core";

export interface PostgresStoreOptions extends BaseStoreOptions {
  /** postgres://user:password@host:port/database — the store creates (and closes) its own pool. */
  url?: string;
  /** The app's own pg.Pool. Used as is and never closed by the store. */
  pool?: pg.Pool;
  /** Table name (letters, digits, underscore; at most 48 characters). Default "tokenstore_tokens". */
  table?: string;
  /** Schema the table lives in (must exist). Default: the connection's search_path. */
  schema?: string;
  /** Connections in the store's own pool. Default 5. */
  poolSize?: number;
  /** Longest wait for a new connection, in ms. Default 3000. */
  connectTimeoutMs?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
/** Decimal ids as core's TokenTable treats them: these move the id counter forward. */

/** Postgres error codes that mean "the server is not there (right now)". */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "08000", "08001", "08003", "08004", "08006", "08P01"]);
/** pg's own connection errors carry no code, only these messages (which never contain data). */
const UNAVAILABLE_MESSAGES = [
  "timeout exceeded when trying to connect",
  "Connection terminated",
  "Client has encountered a connection error",
  "Client was closed and is not queryable",
];
const RETRY_SQLSTATES = new Set(["40001", "40P01"]); // serialization failure, deadlock: the core retries the plan

/** Column of each token field, in Zoho's order; `id` first. */
const COLUMNS = {
  id: "id",
  userName: "user_name",
  clientId: "client_id",
  clientSecret: "client_secret",
  refreshToken: "refresh_token",
  accessToken: "access_token",
  grantToken: "grant_token",
  expiresAt: "expires_at",
  redirectUrl: "redirect_url",
  apiDomain: "api_domain",
} as const;
type ValueField = Exclude<keyof typeof COLUMNS, "id">;
const VALUE_FIELDS = Object.keys(COLUMNS).filter((f) => f !== "id") as ValueField[];
const SELECT_COLUMNS = Object.entries(COLUMNS)
  .map(([field, column]) => `${column} AS "${field}"`)
  .join(", ");

/** Digest column compared for each lookup field (raw text is never compared: 8 KB values fit no B-tree). */
const KEY_COLUMNS: Record<Exclude<MatchField, "id">, string> = {
  userName: "user_key",
  clientId: "client_key",
  accessToken: "access_key",
  grantToken: "grant_key",
  refreshToken: "refresh_key",
};
/** The unique keys, named as core names them; their index is "<table>_<key>". */
const UNIQUE_KEYS = ["identity", "access", "grant", "refresh"] as const satisfies readonly (keyof UniqueKeys)[];

/**
 * The client half of the user + client key. Core's identity is (userName, clientId or none);
 * stored as two digest columns so that a save that keeps the stored client id (null) can still
 * merge column by column (`col = COALESCE(new, col)`). "" stands for "no client id".
 */
function clientKey(clientId: string | null | undefined): string {
  return clientId ? keyDigest(clientId) : "";
}

/** Bound parameters of one statement; `add` returns the placeholder. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type = "text"): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}

const INDEXES = ["identity", "access", "grant", "refresh"] as const;
/** Marks our own schema-check exception, so its message (names only, no values) can be shown. */
const SCHEMA_CLASH = "tokenstore schema clash";

interface Names {
  /** `"schema".` or "". */
  prefix: string;
  /** Qualified, quoted table. */
  table: string;
  /** Qualified, quoted id-counter table. */
  ids: string;
  /** Index name prefix (unquoted). */
  base: string;
  /** Qualified name for the advisory lock key. */
  lockKey: string;
}

function names(table = "tokenstore_tokens", schema?: string): Names {
  for (const [what, value] of [["table", table], ["schema", schema]] as const) {
    if (value !== undefined && (typeof value !== "string" || !IDENTIFIER.test(value))) {
      throw new TokenStoreError("INVALID_OPTIONS", `${what} name must match ${IDENTIFIER} (letters, digits, underscore)`, { store: "postgres" });
    }
  }
  const prefix = schema ? `${quote(schema)}.` : "";
  return { prefix, table: prefix + quote(table), ids: prefix + quote(`${table}_ids`), base: table, lockKey: `tokenstore:${schema ?? ""}.${table}` };
}

/**
 * The schema as plain SQL, for users who run migrations themselves. Idempotent.
 * Raw values are kept exactly (text); each lookup key has a SHA-256 digest column with a
 * B-tree index (unique for the keys no two tokens may share). `<table>_ids` holds the id counter.
 */
export function schemaSql(table = "tokenstore_tokens", schema?: string): string {
  const n = names(table, schema);
  const index = (name: string, columns: string) => `CREATE UNIQUE INDEX IF NOT EXISTS ${quote(`${n.base}_${name}`)} ON ${n.table} (${columns});`;
  // Tables and indexes share one namespace: if another relation already has one of our index
  // names, IF NOT EXISTS would silently skip a unique index. Refuse such a table name instead.
  const ours = INDEXES.map((name) => `'${n.prefix}${quote(`${n.base}_${name}`)}'::regclass`).join(", ");
  const checkIndexes =
    `DO $$ BEGIN IF (SELECT count(*) FROM pg_index WHERE indrelid = '${n.table}'::regclass AND indisunique AND indexrelid IN (${ours})) <> ${INDEXES.length} ` +
    `THEN RAISE EXCEPTION '${SCHEMA_CLASH}: ${n.base}_{${INDEXES.join(",")}} must be unique indexes of table ${n.base}; another relation has one of these names'; END IF; END $$;`;
  return [
    `CREATE TABLE IF NOT EXISTS ${n.table} (`,
    `  id text COLLATE "C" PRIMARY KEY,`,
    ...VALUE_FIELDS.map((f) => `  ${COLUMNS[f]} ${f === "expiresAt" ? "bigint" : "text"},`),
    `  user_key text,`,
    `  client_key text NOT NULL DEFAULT '',`,
    `  access_key text,`,
    `  grant_key text,`,
    `  refresh_key text,`,
    `  lease_holder text,`,
    `  lease_until bigint`,
    `);`,
    // One index serves lookups by user + client and (as its prefix) by user name alone.
    index("identity", "user_key, client_key"),
    index("access", "access_key"),
    index("grant", "grant_key"),
    index("refresh", "refresh_key"),
    checkIndexes,
    `CREATE TABLE IF NOT EXISTS ${n.ids} (one boolean PRIMARY KEY DEFAULT true CHECK (one), next_id bigint NOT NULL);`,
    `INSERT INTO ${n.ids} (one, next_id) VALUES (true, 1) ON CONFLICT DO NOTHING;`,
  ].join("\n");
}

/** SQL that removes everything the store created for `table` (for tests and uninstalls). */
export function dropSql(table = "tokenstore_tokens", schema?: string): string {
  const n = names(table, schema);
  return `DROP TABLE IF EXISTS ${n.table}, ${n.ids};`;
}

/** The schema DDL in one transaction, serialised across processes by an advisory lock. */
function lockedSchemaSql(n: Names, table: string, schema?: string): string {
  const lockId = createHash("sha256").update(n.lockKey).digest().readBigInt64BE(0);
  // Sent as one simple query: PostgreSQL runs it as one implicit transaction (all or nothing,
  // lock released at its end), and an error leaves no open transaction on the pooled connection.
  return `SELECT pg_advisory_xact_lock(${lockId});\n${schemaSql(table, schema)}`;
}

/** Creates the table, indexes and id counter if missing (safe when several processes run it at once). */
export async function migrate(options: Pick<PostgresStoreOptions, "url" | "pool" | "table" | "schema" | "connectTimeoutMs">): Promise<void> {
  const n = names(options.table, options.schema);
  const pool = options.pool ?? newPool(options, 1).on("error", ignoreIdleError);
  try {
    await pool.query(lockedSchemaSql(n, options.table ?? "tokenstore_tokens", options.schema));
  } finally {
    if (!options.pool) await pool.end();
  }
}

function newPool(options: PostgresStoreOptions, max: number): pg.Pool {
  if (typeof options.url !== "string" || options.url === "") {
    throw new TokenStoreError("INVALID_OPTIONS", "give either a url or an app's pg.Pool as pool", { store: "postgres" });
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    idleTimeoutMillis: 10_000,
    keepAlive: true,
    allowExitOnIdle: true,
  });
  return pool;
}

/** Errors on idle clients (server restart, network loss) are emitted by the pool; the pool drops the client. */
function ignoreIdleError(): void {}

/**
 * TokenStore on PostgreSQL. One round trip per operation: findToken is one ordered SELECT,
 * saveToken one statement (lock the match, update it with COALESCE or insert with
 * ON CONFLICT DO NOTHING). Only an insert that hits a unique key takes a second, read-only
 * query to tell a lost race (retried by core) from a real CONFLICT.
 */
export class PostgresTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = "postgres";
  readonly #pool: pg.Pool;
  readonly #ownPool: boolean;
  readonly #names: Names;
  readonly #schemaSql: string;
  #ready: Promise<void> | undefined;
  readonly #statementNames = new Map<string, string>();

  constructor(options: PostgresStoreOptions) {
    super(options);
    if (!options || typeof options !== "object") throw new TokenStoreError("INVALID_OPTIONS", "options are required", { store: "postgres" });
    this.#names = names(options.table, options.schema);
    this.#schemaSql = lockedSchemaSql(this.#names, options.table ?? "tokenstore_tokens", options.schema);
    if (options.pool) {
      this.#pool = options.pool;
      this.#ownPool = false;
    } else {
      const size = options.poolSize ?? 5;
      if (!Number.isSafeInteger(size) || size < 1) throw new TokenStoreError("INVALID_OPTIONS", "poolSize must be a positive integer", { store: "postgres" });
      this.#pool = newPool(options, size);
      this.#ownPool = true;
    }
    this.#pool.on("error", ignoreIdleError);
  }

  /** Creates the schema on first use; a failed attempt is forgotten so the next call tries again. */
  #ensureSchema(): Promise<void> {
    this.#ready ??= this.#pool.query(this.#schemaSql).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    await this.#ensureSchema();
    // Named (server-side prepared) per statement text: parsed and planned once per connection.
    let name = this.#statementNames.get(text);
    if (name === undefined) {
      name = `tokenstore_${createHash("sha1").update(text).digest("hex").slice(0, 24)}`;
      this.#statementNames.set(text, name); // a few dozen texts at most: one per selector shape
    }
    const result = await this.#pool.query<R>({ name, text, values });
    return result.rows;
  }

  /** One condition as SQL over indexed columns: ids as such, every other key by its digest. */
  #condition(condition: Condition, params: Params): string {
    const parts: string[] = [];
    for (const [field, value] of Object.entries(condition) as [MatchField, string][]) {
      if (field === "id") parts.push(`id = ${params.add(value)}`);
      else parts.push(`${KEY_COLUMNS[field]} = ${params.add(field === "clientId" ? clientKey(value) : keyDigest(value))}`);
    }
    return `(${parts.join(" AND ")})`;
  }

  /** WHERE and ORDER BY picking the selector's row: first matching condition, then lowest id. */
  #match(selector: Selector, params: Params): { where: string; order: string } {
    const conditions = selector.anyOf.map((c) => this.#condition(c, params));
    const rank = conditions.length === 1 ? "" : `CASE ${conditions.map((c, i) => `WHEN ${c} THEN ${i}`).join(" ")} END, `;
    return { where: conditions.join(" OR "), order: `${rank}length(id), id` };
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    const params = new Params();
    const { where, order } = this.#match(selector, params);
    const rows = await this.#query<TokenRow>(`SELECT ${SELECT_COLUMNS} FROM ${this.#names.table} WHERE ${where} ORDER BY ${order} LIMIT 1`, params.values);
    return rows[0] ? toRow(rows[0]) : null;
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow | null> {
    const t = this.#names.table;
    const params = new Params();
    const { where, order } = this.#match(plan.selector, params);
    const v = plan.values;
    const keys = uniqueKeys({ userName: v.userName, clientId: v.clientId, accessToken: v.accessToken, grantToken: v.grantToken, refreshToken: v.refreshToken });
    const value = (f: ValueField) => params.add(v[f], f === "expiresAt" ? "bigint" : "text");
    const p = Object.fromEntries(VALUE_FIELDS.map((f) => [f, value(f)])) as Record<ValueField, string>;
    const k = {
      user: params.add(keys.user),
      client: params.add(clientKey(v.clientId)),
      access: params.add(keys.access),
      grant: params.add(keys.grant),
      refresh: params.add(keys.refresh),
    };
    const id = params.add(plan.id);
    const decimalId = params.add(plan.id !== null && COUNTER_ID.test(plan.id) ? plan.id : null, "bigint");
    // A key column follows its field: kept when the field is null (keep), else the new digest (null for "").
    const keyUpdate = (column: string, field: ValueField, digest: string) => `${column} = CASE WHEN ${p[field]} IS NULL THEN t.${column} ELSE ${digest} END`;
    const text = `WITH target AS (
  SELECT id FROM ${t} WHERE ${where} ORDER BY ${order} LIMIT 1 FOR UPDATE
), updated AS (
  UPDATE ${t} AS t SET ${VALUE_FIELDS.map((f) => `${COLUMNS[f]} = COALESCE(${p[f]}, t.${COLUMNS[f]})`).join(", ")},
    ${keyUpdate("user_key", "userName", k.user)}, ${keyUpdate("client_key", "clientId", k.client)},
    ${keyUpdate("access_key", "accessToken", k.access)}, ${keyUpdate("grant_key", "grantToken", k.grant)}, ${keyUpdate("refresh_key", "refreshToken", k.refresh)}
  FROM target WHERE t.id = target.id
  RETURNING t.*
), counter AS (
  UPDATE ${this.#names.ids} SET next_id = CASE WHEN ${id} IS NULL THEN next_id + 1 ELSE GREATEST(next_id, COALESCE(${decimalId} + 1, 0)) END
  WHERE NOT EXISTS (SELECT 1 FROM target) AND (${id} IS NULL OR ${decimalId} IS NOT NULL)
  RETURNING next_id
), inserted AS (
  INSERT INTO ${t} (id, ${VALUE_FIELDS.map((f) => COLUMNS[f]).join(", ")}, user_key, client_key, access_key, grant_key, refresh_key)
  SELECT COALESCE(${id}, (SELECT (next_id - 1)::text FROM counter)), ${VALUE_FIELDS.map((f) => p[f]).join(", ")}, ${k.user}, ${k.client}, ${k.access}, ${k.grant}, ${k.refresh}
  WHERE NOT EXISTS (SELECT 1 FROM target)
  ON CONFLICT DO NOTHING
  RETURNING *
)
SELECT ${SELECT_COLUMNS} FROM updated UNION ALL SELECT ${SELECT_COLUMNS} FROM inserted`;
    let rows: TokenRow[];
    try {
      rows = await this.#query<TokenRow>(text, params.values);
    } catch (error) {
      const e = error as { code?: string; constraint?: string };
      if (RETRY_SQLSTATES.has(e.code ?? "")) return null;
      if (e.code === "23505") {
        // Only the update raises: the stored token would take a key another token holds.
        const name = UNIQUE_KEYS.find((key) => e.constraint === `${this.#names.base}_${key}`);
        if (name) throw conflictError(name, this.storeName);
        return null;
      }
      throw error;
    }
    if (rows[0]) return toRow(rows[0]);
    // The insert hit a unique key: a concurrent save inserted our token (retry: it updates now),
    // or another token holds one of the keys (CONFLICT).
    const check = new Params();
    const again = this.#match(plan.selector, check);
    const exists = (cond: string) => `EXISTS (SELECT 1 FROM ${t} WHERE ${cond})`;
    const [clash] = await this.#query<Record<string, boolean>>(
      `SELECT ${exists(again.where)} AS "matched",
  ${exists(`user_key = ${check.add(keys.user)} AND client_key = ${check.add(clientKey(v.clientId))}`)} AS "identity",
  ${exists(`access_key = ${check.add(keys.access)}`)} AS "access",
  ${exists(`grant_key = ${check.add(keys.grant)}`)} AS "grant",
  ${exists(`refresh_key = ${check.add(keys.refresh)}`)} AS "refresh"`,
      check.values,
    );
    if (!clash || clash.matched) return null;
    for (const name of UNIQUE_KEYS) if (clash[name]) throw conflictError(name, this.storeName);
    return null; // the clashing token is gone again (or a generated id was taken): retry
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    const rows = await this.#query<TokenRow>(`SELECT ${SELECT_COLUMNS} FROM ${this.#names.table} WHERE id = $1`, [id]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  protected async deleteRow(id: string): Promise<boolean> {
    const rows = await this.#query(`DELETE FROM ${this.#names.table} WHERE id = $1 RETURNING 1`, [id]);
    return rows.length > 0;
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return (await this.#query<TokenRow>(`SELECT ${SELECT_COLUMNS} FROM ${this.#names.table}`)).map(toRow);
  }

  protected async deleteAllRows(): Promise<void> {
    await this.#query(`DELETE FROM ${this.#names.table}`);
  }

  protected async closeBackend(): Promise<void> {
    if (this.#ownPool) await this.#pool.end();
    else this.#pool.off("error", ignoreIdleError);
  }

  /** One statement on the database clock: take the lease if free, expired or ours. */
  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      const [row] = await this.#query<{ won: boolean; found: boolean }>(
        `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms), won AS (
  UPDATE ${this.#names.table} SET lease_holder = $2, lease_until = (SELECT ms FROM now) + $3::bigint
  WHERE id = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until <= (SELECT ms FROM now))
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM won) AS won, EXISTS (SELECT 1 FROM ${this.#names.table} WHERE id = $1) AS found`,
        [id, holder, ttlMs],
      );
      if (!row?.won && !row?.found) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      return row.won;
    });
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => {
      const rows = await this.#query(
        `UPDATE ${this.#names.table} SET lease_holder = NULL, lease_until = NULL
WHERE id = $1 AND lease_holder = $2 AND lease_until > (extract(epoch FROM clock_timestamp()) * 1000)::bigint RETURNING 1`,
        [id, holder],
      );
      return rows.length > 0;
    });
  }

  protected override toStoreError(error: unknown, operation: string): TokenStoreError {
    if (error instanceof TokenStoreError) return error;
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : "";
    if (message.startsWith(SCHEMA_CLASH)) return new TokenStoreError("INVALID_OPTIONS", `${operation} failed: ${message}`, { store: this.storeName });
    const unavailable =
      isUnreachableError(error) ||
      (typeof code === "string" && UNAVAILABLE_SQLSTATES.has(code)) ||
      UNAVAILABLE_MESSAGES.some((m) => message.startsWith(m));
    // Server messages can quote values (e.g. invalid input): keep only the code as the cause.
    const cause = isUnreachableError(error) ? error : Object.assign(new Error(`postgres error ${String(code ?? "")}`), { code });
    return new TokenStoreError(
      unavailable ? "BACKEND_UNAVAILABLE" : "BACKEND_ERROR",
      `${operation} failed: ${unavailable ? "backend unavailable" : "backend error"} (${unavailable && !code ? message.slice(0, 80) : describeCause(error)})`,
      { cause, store: this.storeName },
    );
  }
}

/** pg returns bigint as a string; the token wants a number. */
function toRow(row: TokenRow): TokenRow {
  const expiresAt = row.expiresAt;
  return typeof expiresAt === "string" ? { ...row, expiresAt: Number(expiresAt) } : row;
}

export function createPostgresStore(options: PostgresStoreOptions): PostgresTokenStore {
  return new PostgresTokenStore(options);
}

import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import {
  BaseTokenStore,
  checkLeaseArgs,
  conflictError,
  TOKEN_FIELDS,
  TokenStoreError,
  type BaseStoreOptions,
  type Condition,
  type SavePlan,
  type Selector,
  type TokenLeases,
  type TokenRow,
  type UniqueKeys,
} from "@tokenstore/core";
import { checkTableName, keyIndexes, META_TABLE, migrate, q, ZOHO_COLUMNS, type MigrationReport } from "./schema.js";

export { META_TABLE, migrate, schemaSql, ZOHO_COLUMNS, type MigrationReport } from "./schema.js";

export interface SqliteStoreOptions extends BaseStoreOptions {
  /** Database file (created with mode 0600, in WAL mode). The store owns this connection. */
  path?: string;
  /** Or the app's own better-sqlite3 connection: used as configured, never closed by the store. */
  database?: Database.Database;
  /** Token table. Default "oauthtoken", Zoho's sample table, which the store opens in place. */
  table?: string;
  /** How long a write waits for another connection's write to finish (SQLite busy timeout), in ms. Only with `path`. Default 5 000. */
  busyTimeoutMs?: number;
}

const STORE = "sqlite";
const SELECT_COLUMNS = ZOHO_COLUMNS.join(", ");
const VALUE_COLUMNS = ZOHO_COLUMNS.slice(1);
/** Lowest id first, the way core's `compareIds` orders decimal ids. */
const LOWEST_ID = "ORDER BY length(id), id LIMIT 1";

/** The prepared statements of one connection and table. */
interface Statements {
  byCondition: Map<string, Database.Statement>;
  all: Database.Statement;
  exists: Database.Statement;
  update: Database.Statement;
  insert: Database.Statement;
  nextId: Database.Statement;
  bumpNextId: Database.Statement;
  delete: Database.Statement;
  deleteAll: Database.Statement;
  takeLease: Database.Statement;
  releaseLease: Database.Statement;
}

/** The connection's statements and the transactions built from them. */
interface Connection extends Statements {
  save: Database.Transaction<(plan: SavePlan) => unknown[]>;
  lease: Database.Transaction<(id: string, holder: string, ttlMs: number) => boolean>;
}

/**
 * Keeps tokens in a SQLite table laid out like Zoho's `oauthtoken` sample (its ten columns in
 * its order, lease columns appended), so an existing Zoho database is served in place. Saves
 * and leases run in IMMEDIATE transactions: writers from every connection and process queue
 * on SQLite's write lock (bounded by the busy timeout) instead of failing or racing.
 */
export class SqliteTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = STORE;
  readonly table: string;
  readonly #path: string | undefined;
  readonly #busyTimeoutMs: number;
  #db: Database.Database | undefined;
  #connection: Connection | undefined;
  #migration: MigrationReport | undefined;

  constructor(options: SqliteStoreOptions) {
    super(options);
    const hasPath = typeof options?.path === "string" && options.path !== "";
    const hasDatabase = options?.database !== undefined && options.database !== null;
    if (hasPath === hasDatabase) {
      throw new TokenStoreError("INVALID_OPTIONS", "the sqlite store needs either `path` or `database` (a better-sqlite3 Database), not both", { store: STORE });
    }
    if (hasDatabase && typeof (options.database as Partial<Database.Database>).prepare !== "function") {
      throw new TokenStoreError("INVALID_OPTIONS", "`database` must be a better-sqlite3 Database", { store: STORE });
    }
    const busy = options.busyTimeoutMs ?? 5_000;
    if (!Number.isSafeInteger(busy) || busy < 0) throw new TokenStoreError("INVALID_OPTIONS", "busyTimeoutMs must be a non-negative integer (ms)", { store: STORE });
    this.table = checkTableName(options.table ?? "oauthtoken");
    this.#path = hasPath ? options.path : undefined;
    this.#db = options.database;
    this.#busyTimeoutMs = busy;
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    return this.#find(this.#ready(), selector);
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow> {
    const { save } = this.#ready();
    try {
      return toRow(save.immediate(plan));
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    return this.#find(this.#ready(), { anyOf: [{ id }] });
  }

  protected async deleteRow(id: string): Promise<boolean> {
    return this.#ready().delete.run(id).changes > 0;
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return (this.#ready().all.all() as unknown[][]).map(toRow);
  }

  protected async deleteAllRows(): Promise<void> {
    this.#ready().deleteAll.run();
  }

  protected async closeBackend(): Promise<void> {
    // Only a connection the store opened itself; an app's Database stays open.
    if (this.#path !== undefined) this.#db?.close();
    this.#connection = undefined;
  }

  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => this.#ready().lease.immediate(id, holder, ttlMs));
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => this.#ready().releaseLease.run(id, holder, Date.now()).changes > 0);
  }

  protected override toStoreError(error: unknown, operation: string): TokenStoreError {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && !(error instanceof TokenStoreError)) {
      const fail = (kind: "BACKEND_UNAVAILABLE" | "CORRUPT_DATA", why: string) =>
        new TokenStoreError(kind, `${operation} failed: ${why} (${code})`, { cause: error, store: STORE });
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return fail("BACKEND_UNAVAILABLE", "the database stayed locked by another connection longer than the busy timeout");
      if (code.startsWith("SQLITE_CANTOPEN")) return fail("BACKEND_UNAVAILABLE", "cannot open the database file");
      if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") return fail("CORRUPT_DATA", "the database file is damaged or not a SQLite database");
    }
    return super.toStoreError(error, operation);
  }

  /** What the schema check found when the store first touched the database (undefined before). */
  get migration(): MigrationReport | undefined {
    return this.#migration;
  }

  /** The connection with schema, statements and transactions, opened and checked on first use. */
  #ready(): Connection {
    if (this.#connection) return this.#connection;
    const db = (this.#db ??= openOwnDatabase(this.#path!, this.#busyTimeoutMs));
    const migration = migrate(db, this.table);
    if (migration.nonUniqueKeys.length > 0) {
      process.emitWarning(
        `[tokenstore:sqlite] table "${this.table}" has several rows with one ${migration.nonUniqueKeys.map((k) => KEY_NAMES[k]).join(", one ")}; ` +
          `they were kept and indexed without uniqueness (lookups pick the lowest id), so saves cannot report CONFLICT ` +
          `for that key until the duplicates are merged`,
        { code: "TOKENSTORE_SQLITE_DUPLICATE_KEYS" },
      );
    }
    const s = prepare(db, this.table);
    const save = db.transaction((plan: SavePlan): unknown[] => {
      const values = VALUE_COLUMNS.map((_, i) => bindable(plan.values[TOKEN_FIELDS[i + 1] as keyof SavePlan["values"]]));
      const stored = this.#find(s, plan.selector);
      if (stored) return s.update.get(...values, stored.id) as unknown[];
      const id = plan.id ?? this.#freshId(s);
      const row = s.insert.get(id, ...values) as unknown[];
      s.bumpNextId.run({ id, table: this.table });
      return row;
    });
    const lease = db.transaction((id: string, holder: string, ttlMs: number): boolean => {
      const now = Date.now();
      if (s.takeLease.run(holder, now + ttlMs, id, holder, now).changes > 0) return true;
      if (!s.exists.get(id)) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: STORE });
      return false;
    });
    this.#migration = migration;
    this.#connection = { ...s, save, lease };
    return this.#connection;
  }

  /** Runs the selector's conditions in order; each is one indexed query for the lowest id. */
  #find(s: Statements, selector: Selector): TokenRow | null {
    for (const condition of selector.anyOf) {
      const shape = conditionShape(condition);
      const statement = s.byCondition.get(shape);
      if (!statement) throw new TokenStoreError("BACKEND_ERROR", `unsupported condition (${shape})`, { store: STORE });
      const row = statement.get(...shape.split(",").map((f) => condition[f as keyof Condition])) as unknown[] | undefined;
      if (row) return toRow(row);
    }
    return null;
  }

  /** The counter's next id, skipping ids that others (e.g. Zoho's sample) inserted themselves. */
  #freshId(s: Statements): string {
    let next = (s.nextId.get(this.table) as { next_id: number }).next_id;
    while (s.exists.get(String(next))) next++;
    return String(next);
  }
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteTokenStore {
  return new SqliteTokenStore(options);
}

function openOwnDatabase(path: string, busyTimeoutMs: number): Database.Database {
  if (path !== ":memory:" && !path.startsWith("file:")) {
    mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
    // Create the file ourselves so it is 0600 from the start (SQLite would make it 0644);
    // SQLite gives its -wal and -shm files the database file's mode.
    try {
      closeSync(openSync(path, "wx", 0o600));
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EEXIST") throw error;
    }
  }
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma("journal_mode = WAL");
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function prepare(db: Database.Database, table: string): Statements {
  const t = q(table);
  const [identity, access, grant, refresh] = keyIndexes(table);
  const select = (where: string) => db.prepare(`SELECT ${SELECT_COLUMNS} FROM ${t} WHERE ${where} ${LOWEST_ID}`).raw(true);
  return {
    // Keys are a condition's fields, sorted; values are bound in that order.
    byCondition: new Map([
      ["id", select("id = ?")],
      ["userName", select(`user_name = ? AND ${identity.where}`)],
      ["clientId,userName", select(`ifnull(client_id, '') = ? AND user_name = ? AND ${identity.where}`)],
      ["accessToken", select(`access_token = ? AND ${access.where}`)],
      ["grantToken", select(`grant_token = ? AND ${grant.where}`)],
      ["refreshToken", select(`refresh_token = ? AND ${refresh.where}`)],
    ]),
    all: db.prepare(`SELECT ${SELECT_COLUMNS} FROM ${t}`).raw(true),
    exists: db.prepare(`SELECT 1 FROM ${t} WHERE id = ?`).pluck(),
    // NULL keeps the stored value (core's merge rule); lease columns are never touched by saves.
    update: db.prepare(`UPDATE ${t} SET ${VALUE_COLUMNS.map((c) => `${c} = ifnull(?, ${c})`).join(", ")} WHERE id = ? RETURNING ${SELECT_COLUMNS}`).raw(true),
    insert: db.prepare(`INSERT INTO ${t} (${SELECT_COLUMNS}) VALUES (${ZOHO_COLUMNS.map(() => "?").join(", ")}) RETURNING ${SELECT_COLUMNS}`).raw(true),
    nextId: db.prepare(`SELECT next_id FROM ${META_TABLE} WHERE table_name = ?`),
    // Only ids matching core's COUNTER_ID move the counter (as in core's TokenTable); imported ids like "nodejs_…" do not.
    bumpNextId: db.prepare(
      `UPDATE ${META_TABLE} SET next_id = max(next_id, CAST(@id AS INTEGER) + 1) ` +
        `WHERE table_name = @table AND @id GLOB '[1-9]*' AND @id NOT GLOB '*[^0-9]*' AND length(@id) <= 15`,
    ),
    delete: db.prepare(`DELETE FROM ${t} WHERE id = ?`),
    deleteAll: db.prepare(`DELETE FROM ${t}`),
    takeLease: db.prepare(
      `UPDATE ${t} SET lease_holder = ?, lease_until = ? WHERE id = ? AND (lease_holder IS NULL OR lease_holder = ? OR lease_until IS NULL OR lease_until <= ?)`,
    ),
    releaseLease: db.prepare(`UPDATE ${t} SET lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ? AND lease_until > ?`),
  };
}

/** Expiries go in as decimal text, as Zoho writes them (a bound JS number would be stored as "….0"). */
function bindable(value: string | number | null): string | null {
  return typeof value === "number" ? String(value) : value;
}

function conditionShape(condition: Condition): string {
  return Object.keys(condition).sort().join(",");
}

/** A positional row (Zoho's column order) as the token fields core checks. */
function toRow(row: unknown[]): TokenRow {
  const out = {} as Record<string, unknown>;
  for (const [i, field] of TOKEN_FIELDS.entries()) out[field] = row[i];
  // TEXT affinity turns ids and expiries into text; tables made elsewhere may hold integers.
  if (typeof out.id === "number" || typeof out.id === "bigint") out.id = String(out.id);
  out.expiresAt = expiryOf(out.expiresAt);
  return out as TokenRow;
}

/** expiry_time as epoch ms: Zoho writes decimal text, other writers integers or "….0" reals. */
function expiryOf(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "string") return value;
  if (value === "") return null;
  const digits = /^(\d{1,16})(?:\.0*)?$/.exec(value);
  return digits ? Number(digits[1]) : value; // anything else: core reports CORRUPT_DATA
}

const KEY_NAMES: Record<string, string> = { identity: "user name + client id", access: "access token", grant: "grant token", refresh: "refresh token" };

const INDEX_KEYS = keyIndexes("").map((i) => [i.name.slice(1), i.key] as const);

/** A UNIQUE violation as CONFLICT naming the key; SQLite names columns or indexes, never values. */
function uniqueViolation(error: unknown): TokenStoreError | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== "SQLITE_CONSTRAINT_UNIQUE" && code !== "SQLITE_CONSTRAINT_PRIMARYKEY") return null;
  const message = error instanceof Error ? error.message : "";
  const key = INDEX_KEYS.find(([suffix]) => message.endsWith(suffix) || message.endsWith(`${suffix}'`))?.[1] ?? null;
  return conflictError(key as keyof UniqueKeys | null, STORE);
}

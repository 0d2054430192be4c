import mysql from "mysql2/promise";
import type { Pool, PoolOptions, ResultSetHeader, RowDataPacket } from "mysql2/promise";
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
} from "@tokenstore/core";

export interface MysqlStoreOptions extends BaseStoreOptions {
  /** mysql://user:password@host:port/database — the store creates (and closes) its own pool. */
  url?: string;
  /** The app's own mysql2/promise Pool (or callback Pool). Used as is and never closed by the store. */
  pool?: Pool;
  /** Connection parameters (as Zoho's DBStore takes them), instead of a url. */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** Zoho DBStore's names for user, database and table. */
  userName?: string;
  databaseName?: string;
  tableName?: string;
  /** Table name (letters, digits, underscore; at most 48 characters). Default "tokenstore_tokens". */
  table?: string;
  /** Connections in the store's own pool. Default 5. */
  poolSize?: number;
  /** Longest wait for a new connection, in ms. Default 3000. */
  connectTimeoutMs?: number;
}

const STORE = "mysql";
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
/** Decimal ids as core's TokenTable treats them: these move the id counter forward. */
/** The save procedure handles selectors of up to this many conditions (core makes at most 2). */
const MAX_CONDITIONS = 2;
/** Bump when the procedure changes: a new name, so old processes keep calling the old one. */
const PROCEDURE_VERSION = 1;

/** Errors that mean the server is gone or refusing us (beyond core's network codes). */
const UNAVAILABLE_CODES = new Set(["ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED", "PROTOCOL_SEQUENCE_TIMEOUT", "ER_TOO_MANY_USER_CONNECTIONS", "ER_NET_READ_INTERRUPTED"]);
const RETRY_CODES = new Set(["ER_LOCK_DEADLOCK", "ER_DUP_ENTRY"]);

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
/** ids are VARBINARY (exact bytes, no PAD SPACE): read them back as text. */
const SELECT_COLUMNS = Object.entries(COLUMNS)
  .map(([field, column]) => (field === "id" ? "CAST(id AS CHAR CHARACTER SET utf8mb4) AS id" : `${column} AS ${field}`))
  .join(", ");

/**
 * Column compared for each lookup field, in the order the save procedure prefers them as its
 * index. Raw text is never compared (MariaDB's utf8mb4_bin ignores trailing spaces, and 8 KB
 * values fit no index): ids are VARBINARY, every other key a SHA-256 digest (VARBINARY).
 */
const KEY_COLUMNS: Record<MatchField, string> = {
  id: "id",
  userName: "user_key",
  accessToken: "access_key",
  grantToken: "grant_key",
  refreshToken: "refresh_key",
  clientId: "client_key",
};
const LOOKUP_FIELDS = Object.keys(KEY_COLUMNS) as MatchField[];

/** Current time in epoch ms on the server's clock, independent of the session time zone. */
const NOW_MS = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** See postgres: the user + client key as two digests, so a save can keep either one. "" = no client id. */
function clientKey(clientId: string | null | undefined): string {
  return clientId ? keyDigest(clientId) : "";
}

function lookupValue(field: MatchField, value: string): string {
  return field === "id" ? value : field === "clientId" ? clientKey(value) : keyDigest(value);
}

function quote(identifier: string): string {
  return `\`${identifier}\``;
}

function tableName(options: Pick<MysqlStoreOptions, "table" | "tableName">): string {
  const table = options.table ?? options.tableName ?? "tokenstore_tokens";
  if (typeof table !== "string" || !IDENTIFIER.test(table)) {
    throw new TokenStoreError("INVALID_OPTIONS", `table name must match ${IDENTIFIER} (letters, digits, underscore)`, { store: STORE });
  }
  return table;
}

interface Names {
  table: string;
  ids: string;
  procedure: string;
  procedureName: string;
  raw: string;
}

function names(table: string): Names {
  const procedureName = `${table}_save_v${PROCEDURE_VERSION}`;
  return { table: quote(table), ids: quote(`${table}_ids`), procedure: quote(procedureName), procedureName, raw: table };
}

const TEXT = "MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

/** Table and id counter, as plain SQL statements (each idempotent). */
function tableStatements(n: Names): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${n.table} (
  id VARBINARY(1024) NOT NULL,
${VALUE_FIELDS.map((f) => `  ${COLUMNS[f]} ${f === "expiresAt" ? "BIGINT" : TEXT} NULL,`).join("\n")}
  user_key VARBINARY(43) NULL,
  client_key VARBINARY(43) NOT NULL DEFAULT '',
  access_key VARBINARY(43) NULL,
  grant_key VARBINARY(43) NULL,
  refresh_key VARBINARY(43) NULL,
  lease_holder BLOB NULL,
  lease_until BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY ${quote(`${n.raw}_identity`)} (user_key, client_key),
  UNIQUE KEY ${quote(`${n.raw}_access`)} (access_key),
  UNIQUE KEY ${quote(`${n.raw}_grant`)} (grant_key),
  UNIQUE KEY ${quote(`${n.raw}_refresh`)} (refresh_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    `CREATE TABLE IF NOT EXISTS ${n.ids} (one TINYINT NOT NULL PRIMARY KEY, next_id BIGINT NOT NULL) ENGINE=InnoDB`,
    `INSERT IGNORE INTO ${n.ids} (one, next_id) VALUES (1, 1)`,
  ];
}

/**
 * The save procedure: carries out one SavePlan atomically in one round trip (CALL through a
 * server-side prepared statement). MySQL has no single statement that can "update the row the
 * selector picks, else insert" (INSERT … ON DUPLICATE KEY UPDATE fires on ANY unique key, so it
 * would update another token on a clash), and a client-side transaction costs 4 round trips.
 *
 * In READ COMMITTED (no gap locks, so parallel first saves do not deadlock): lock the selector's
 * row; check the new keys against other tokens (→ status 'identity' | 'access' | …, i.e.
 * CONFLICT); update with COALESCE or insert with a fresh id from the counter row; a duplicate
 * key then can only be a concurrent writer (→ 'retry': the core retries the plan).
 */
function procedureStatement(n: Names): string {
  const alternatives = Array.from({ length: MAX_CONDITIONS }, (_, i) => i);
  const param = (i: number, field: MatchField) => `a${i}_${KEY_COLUMNS[field]}`;
  const params = [
    ...alternatives.flatMap((i) => LOOKUP_FIELDS.map((f) => `IN ${param(i, f)} VARBINARY(${f === "id" ? 1024 : 43})`)),
    "IN p_id VARBINARY(1024)",
    "IN p_num BIGINT",
    ...VALUE_FIELDS.map((f) => `IN p_${COLUMNS[f]} ${f === "expiresAt" ? "BIGINT" : TEXT}`),
    ...["user", "client", "access", "grant", "refresh"].map((k) => `IN k_${k} VARBINARY(43)`),
  ];
  // Each condition: look up by its first indexed field, filter on the others.
  const lookup = (i: number, into: string, lock: string) =>
    LOOKUP_FIELDS.map((lead, j) => {
      const filters = LOOKUP_FIELDS.filter((f) => f !== lead).map((f) => ` AND (${param(i, f)} IS NULL OR ${KEY_COLUMNS[f]} = ${param(i, f)})`);
      return `    ${j === 0 ? "IF" : "ELSEIF"} ${param(i, lead)} IS NOT NULL THEN
      SELECT ${into} FROM ${n.table}
      WHERE ${KEY_COLUMNS[lead]} = ${param(i, lead)}${filters.join("")}
      ORDER BY LENGTH(id), id LIMIT 1${lock};`;
    }).join("\n") + "\n    END IF;";
  const lookups = (into: string, lock: string, found: string) =>
    alternatives.map((i) => `  IF ${found} IS NULL THEN\n${lookup(i, into, lock)}\n  END IF;`).join("\n");
  const other = "NOT (v_found AND id = v_id)";
  return `CREATE PROCEDURE ${n.procedure}(${params.join(", ")})
SQL SECURITY INVOKER
MODIFIES SQL DATA
BEGIN
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_id VARBINARY(1024) DEFAULT NULL;
  DECLARE v_user VARBINARY(43) DEFAULT NULL;
  DECLARE v_client VARBINARY(43) DEFAULT NULL;
  DECLARE v_next BIGINT DEFAULT NULL;
  DECLARE v_ours VARBINARY(1024) DEFAULT NULL;
  DECLARE v_status VARCHAR(16) DEFAULT 'ok';
  DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
  DECLARE CONTINUE HANDLER FOR 1062 SET v_status = 'retry';
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  START TRANSACTION;
${lookups("id, user_key, client_key INTO v_id, v_user, v_client", " FOR UPDATE", "v_id")}
  SET v_found = v_id IS NOT NULL;
  IF v_found THEN
    SET v_user = IF(p_user_name IS NULL, v_user, k_user), v_client = IF(p_client_id IS NULL, v_client, k_client);
  ELSE
    SET v_user = k_user, v_client = k_client;
  END IF;
  IF v_user IS NOT NULL AND EXISTS (SELECT 1 FROM ${n.table} WHERE user_key = v_user AND client_key = v_client AND ${other}) THEN
    SET v_status = 'identity';
  ELSEIF k_access IS NOT NULL AND EXISTS (SELECT 1 FROM ${n.table} WHERE access_key = k_access AND ${other}) THEN
    SET v_status = 'access';
  ELSEIF k_grant IS NOT NULL AND EXISTS (SELECT 1 FROM ${n.table} WHERE grant_key = k_grant AND ${other}) THEN
    SET v_status = 'grant';
  ELSEIF k_refresh IS NOT NULL AND EXISTS (SELECT 1 FROM ${n.table} WHERE refresh_key = k_refresh AND ${other}) THEN
    SET v_status = 'refresh';
  END IF;
  IF v_status <> 'ok' AND NOT v_found THEN
    -- The clashing token may be the one we looked for, inserted since our lookup: a lost race.
${lookups("id INTO v_ours", "", "v_ours")}
    IF v_ours IS NOT NULL THEN SET v_status = 'retry'; END IF;
  ELSEIF v_status = 'ok' AND v_found THEN
    UPDATE ${n.table} SET
${VALUE_FIELDS.map((f) => `      ${COLUMNS[f]} = COALESCE(p_${COLUMNS[f]}, ${COLUMNS[f]}),`).join("\n")}
      user_key = v_user, client_key = v_client,
      access_key = IF(p_access_token IS NULL, access_key, k_access),
      grant_key = IF(p_grant_token IS NULL, grant_key, k_grant),
      refresh_key = IF(p_refresh_token IS NULL, refresh_key, k_refresh)
    WHERE id = v_id;
  ELSEIF v_status = 'ok' THEN
    IF p_id IS NULL THEN
      SELECT next_id INTO v_next FROM ${n.ids} WHERE one = 1 FOR UPDATE;
      UPDATE ${n.ids} SET next_id = next_id + 1 WHERE one = 1;
      SET v_id = v_next;
    ELSE
      SET v_id = p_id;
      IF p_num IS NOT NULL THEN
        UPDATE ${n.ids} SET next_id = GREATEST(next_id, p_num + 1) WHERE one = 1;
      END IF;
    END IF;
    INSERT INTO ${n.table} (id, ${VALUE_FIELDS.map((f) => COLUMNS[f]).join(", ")}, user_key, client_key, access_key, grant_key, refresh_key)
    VALUES (v_id, ${VALUE_FIELDS.map((f) => `p_${COLUMNS[f]}`).join(", ")}, v_user, v_client, k_access, k_grant, k_refresh);
  END IF;
  IF v_status = 'ok' THEN
    SELECT 'ok' AS status, ${SELECT_COLUMNS} FROM ${n.table} WHERE id = v_id;
    COMMIT;
  ELSE
    ROLLBACK;
    SELECT v_status AS status;
  END IF;
END`;
}

/**
 * The schema as SQL statements, for users who run migrations themselves (run them in order;
 * the procedure statement contains semicolons, so send it as one statement — no DELIMITER
 * needed through a driver; in the mysql CLI wrap it in DELIMITER). Each is idempotent except
 * CREATE PROCEDURE, which fails harmlessly (1304) when the procedure already exists.
 */
export function schemaSql(table = "tokenstore_tokens"): string[] {
  const n = names(tableName({ table }));
  return [...tableStatements(n), procedureStatement(n)];
}

/** Statements that remove everything the store created for `table` (for tests and uninstalls). */
export function dropSql(table = "tokenstore_tokens"): string[] {
  const n = names(tableName({ table }));
  return [`DROP PROCEDURE IF EXISTS ${n.procedure}`, `DROP TABLE IF EXISTS ${n.table}, ${n.ids}`];
}

/** Creates table, id counter and save procedure if missing; safe when several processes run it at once. */
export async function migrate(options: MysqlStoreOptions): Promise<void> {
  const n = names(tableName(options));
  const pool = options.pool ? promisePool(options.pool) : newPool(options, 1);
  try {
    await createSchema(pool, n);
  } finally {
    if (!options.pool) await pool.end();
  }
}

/** A callback-style mysql2 Pool works too, through its promise wrapper. */
function promisePool(pool: Pool): Pool {
  const p = pool as Pool & { promise?: () => Pool };
  return typeof p.promise === "function" ? p.promise() : pool;
}

async function createSchema(pool: Pool, n: Names): Promise<void> {
  const exists = async (runner: Pick<Pool, "execute">) => {
    const [rows] = await runner.execute<RowDataPacket[]>(
      "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ?",
      [n.procedureName],
    );
    return rows.length > 0;
  };
  // The procedure is created last: when it exists, so does everything else.
  if (await exists(pool)) return;
  const connection = await pool.getConnection();
  try {
    // Serialise DDL across processes (CREATE PROCEDURE has no portable IF NOT EXISTS).
    const [[lock]] = await connection.execute<RowDataPacket[]>("SELECT GET_LOCK(SHA2(CONCAT('tokenstore:', DATABASE(), '.', ?), 256), 20) AS ok", [n.raw]);
    if (Number(lock?.ok) !== 1) throw new TokenStoreError("BACKEND_UNAVAILABLE", "timed out waiting for the schema lock", { store: STORE });
    try {
      for (const statement of tableStatements(n)) await connection.query(statement);
      if (!(await exists(connection))) await connection.query(procedureStatement(n));
    } finally {
      await connection.execute("SELECT RELEASE_LOCK(SHA2(CONCAT('tokenstore:', DATABASE(), '.', ?), 256))", [n.raw]);
    }
  } finally {
    connection.release();
  }
}

function newPool(options: MysqlStoreOptions, connectionLimit: number): Pool {
  let config: PoolOptions;
  if (options.url !== undefined) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TokenStoreError("INVALID_OPTIONS", "url is not a valid mysql:// URL", { store: STORE });
    }
    if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") throw new TokenStoreError("INVALID_OPTIONS", "url must start with mysql://", { store: STORE });
    config = {
      host: url.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost",
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username) || "root",
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.slice(1)) || undefined,
    };
  } else if (options.host !== undefined || options.database !== undefined || options.databaseName !== undefined) {
    config = {
      host: options.host ?? "localhost",
      port: options.port ?? 3306,
      user: options.user ?? options.userName ?? "root",
      password: options.password ?? "",
      database: options.database ?? options.databaseName,
    };
  } else {
    throw new TokenStoreError("INVALID_OPTIONS", "give a url, connection parameters (host, database, …) or an app's mysql2 pool", { store: STORE });
  }
  if (!config.database) throw new TokenStoreError("INVALID_OPTIONS", "a database name is required", { store: STORE });
  return mysql.createPool({
    ...config,
    connectionLimit,
    maxIdle: connectionLimit,
    idleTimeout: 10_000,
    connectTimeout: options.connectTimeoutMs ?? 3000,
    enableKeepAlive: true,
    charset: "UTF8MB4_BIN",
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
}

/**
 * TokenStore on MySQL 8 / MariaDB 10.11+. Round trips: findToken one SELECT (conditions as
 * UNION ALL branches, ordered), saveToken one CALL of the save procedure, the rest one statement.
 */
export class MysqlTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = STORE;
  readonly #pool: Pool;
  readonly #ownPool: boolean;
  readonly #names: Names;
  readonly #call: string;
  #ready: Promise<void> | undefined;

  constructor(options: MysqlStoreOptions) {
    super(options);
    if (!options || typeof options !== "object") throw new TokenStoreError("INVALID_OPTIONS", "options are required", { store: STORE });
    this.#names = names(tableName(options));
    const paramCount = MAX_CONDITIONS * LOOKUP_FIELDS.length + 2 + VALUE_FIELDS.length + 5;
    this.#call = `CALL ${this.#names.procedure}(${Array(paramCount).fill("?").join(", ")})`;
    if (options.pool) {
      this.#pool = promisePool(options.pool);
      this.#ownPool = false;
    } else {
      const size = options.poolSize ?? 5;
      if (!Number.isSafeInteger(size) || size < 1) throw new TokenStoreError("INVALID_OPTIONS", "poolSize must be a positive integer", { store: STORE });
      this.#pool = newPool(options, size);
      this.#ownPool = true;
    }
  }

  /** Creates the schema on first use; a failed attempt is forgotten so the next call tries again. */
  #ensureSchema(): Promise<void> {
    this.#ready ??= createSchema(this.#pool, this.#names).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #execute<T extends RowDataPacket[] | RowDataPacket[][] | ResultSetHeader>(sql: string, values: unknown[] = []): Promise<T> {
    await this.#ensureSchema();
    const [result] = await this.#pool.execute<T>(sql, values as never);
    return result;
  }

  #condition(condition: Condition, values: unknown[]): string {
    const parts: string[] = [];
    for (const [field, value] of Object.entries(condition) as [MatchField, string][]) {
      parts.push(`${KEY_COLUMNS[field]} = ?`);
      values.push(lookupValue(field, value));
    }
    return parts.join(" AND ");
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    const values: unknown[] = [];
    const t = this.#names.table;
    const branches = selector.anyOf.map((c, i) => `SELECT ${i} AS r, ${SELECT_COLUMNS} FROM ${t} WHERE ${this.#condition(c, values)} ORDER BY LENGTH(id), id LIMIT 1`);
    // Each branch returns its condition's best row; the first condition's row wins. (An outer
    // ORDER BY would make MariaDB materialise the union: measurably slower than picking here.)
    const sql = branches.length === 1 ? branches[0]! : branches.map((b) => `(${b})`).join(" UNION ALL ");
    const rows = await this.#execute<RowDataPacket[]>(sql, values);
    let best: RowDataPacket | undefined;
    for (const row of rows) if (best === undefined || row.r < best.r) best = row;
    return best ? toRow(best) : null;
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow | null> {
    if (plan.selector.anyOf.length > MAX_CONDITIONS) {
      throw new TokenStoreError("BACKEND_ERROR", `the save procedure takes at most ${MAX_CONDITIONS} conditions`, { store: STORE });
    }
    const v = plan.values;
    const keys = uniqueKeys({ userName: v.userName, clientId: v.clientId, accessToken: v.accessToken, grantToken: v.grantToken, refreshToken: v.refreshToken });
    const args: unknown[] = [];
    for (let i = 0; i < MAX_CONDITIONS; i++) {
      const condition: Condition = plan.selector.anyOf[i] ?? {};
      for (const field of LOOKUP_FIELDS) args.push(condition[field] === undefined ? null : lookupValue(field, condition[field]));
    }
    args.push(plan.id, plan.id !== null && COUNTER_ID.test(plan.id) ? plan.id : null);
    for (const field of VALUE_FIELDS) args.push(v[field]);
    args.push(keys.user, clientKey(v.clientId), keys.access, keys.grant, keys.refresh);
    let result: RowDataPacket[][];
    try {
      result = await this.#execute<RowDataPacket[][]>(this.#call, args);
    } catch (error) {
      if (RETRY_CODES.has((error as { code?: string }).code ?? "")) return null;
      throw error;
    }
    const row = result[0]?.[0];
    switch (row?.status) {
      case "ok":
        return toRow(row);
      case "identity":
      case "access":
      case "grant":
      case "refresh":
        throw conflictError(row.status, this.storeName);
      default:
        return null; // 'retry': a concurrent writer took a key first
    }
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    const rows = await this.#execute<RowDataPacket[]>(`SELECT ${SELECT_COLUMNS} FROM ${this.#names.table} WHERE id = ?`, [id]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  protected async deleteRow(id: string): Promise<boolean> {
    const result = await this.#execute<ResultSetHeader>(`DELETE FROM ${this.#names.table} WHERE id = ?`, [id]);
    return result.affectedRows > 0;
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return (await this.#execute<RowDataPacket[]>(`SELECT ${SELECT_COLUMNS} FROM ${this.#names.table}`)).map(toRow);
  }

  protected async deleteAllRows(): Promise<void> {
    await this.#execute(`DELETE FROM ${this.#names.table}`);
  }

  protected async closeBackend(): Promise<void> {
    if (this.#ownPool) await this.#pool.end();
  }

  /**
   * One UPDATE on the database clock takes the lease if it is free, expired or ours. Only when
   * it changes no row does a second read tell "held by another" from NOT_FOUND.
   */
  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      const t = this.#names.table;
      const result = await this.#execute<ResultSetHeader>(
        `UPDATE ${t} SET lease_holder = ?, lease_until = ${NOW_MS} + ? WHERE id = ? AND (lease_holder IS NULL OR lease_holder = ? OR lease_until <= ${NOW_MS})`,
        [holder, ttlMs, id, holder],
      );
      if (result.affectedRows > 0) return true;
      const [row] = await this.#execute<RowDataPacket[]>(`SELECT lease_holder = ? AND lease_until > ${NOW_MS} AS mine FROM ${t} WHERE id = ?`, [holder, id]);
      if (!row) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      return Number(row.mine) === 1; // renewed within the same millisecond: nothing changed, still ours
    });
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => {
      const result = await this.#execute<ResultSetHeader>(
        `UPDATE ${this.#names.table} SET lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ? AND lease_until > ${NOW_MS}`,
        [id, holder],
      );
      return result.affectedRows > 0;
    });
  }

  protected override toStoreError(error: unknown, operation: string): TokenStoreError {
    if (error instanceof TokenStoreError) return error;
    const e = (error ?? {}) as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown };
    const closedConnection = typeof e.message === "string" && e.message.includes("connection is in closed state");
    // mysql2 marks connection-level failures fatal; server refusals (ER_ACCESS_DENIED_ERROR, …) are errors, not outages.
    const lostConnection = e.fatal === true && !String(e.code).startsWith("ER_");
    const unavailable = isUnreachableError(error) || UNAVAILABLE_CODES.has(String(e.code)) || lostConnection || closedConnection;
    // MySQL messages quote values ("Duplicate entry '…'", "Incorrect string value"): keep only codes.
    const cause = isUnreachableError(error) ? error : Object.assign(new Error(`mysql error ${String(e.code ?? "")} ${String(e.errno ?? "")}`), { code: e.code, errno: e.errno });
    return new TokenStoreError(
      unavailable ? "BACKEND_UNAVAILABLE" : "BACKEND_ERROR",
      `${operation} failed: ${unavailable ? "backend unavailable" : "backend error"} (${isUnreachableError(error) ? describeCause(error) : String(e.code ?? "unknown")})`,
      { cause, store: this.storeName },
    );
  }
}

/** The token fields of a row. An app's pool may return BIGINT as a string (bigNumberStrings). */
function toRow(row: RowDataPacket): TokenRow {
  const out = {} as Record<string, unknown>;
  for (const field of Object.keys(COLUMNS)) out[field] = row[field];
  if (typeof out.expiresAt === "string") out.expiresAt = Number(out.expiresAt);
  return out as TokenRow;
}

export function createMysqlStore(options: MysqlStoreOptions): MysqlTokenStore {
  return new MysqlTokenStore(options);
}

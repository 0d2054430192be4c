import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TokenStoreError, type TokenStore } from "@tokenstore/core";
import type { ConformanceTarget } from "@tokenstore/conformance";
import { MemoryTokenStore } from "@tokenstore/memory";

export type StoreKind = "memory" | "file" | "sqlite" | "mysql" | "postgres" | "redis" | "mongo";
export type ZohoKind = "zoho-file" | "zoho-mysql" | "zoho-sqlite";

/** A parsed store URL. `url` is what the driver gets (our query parameters removed). */
export interface StoreSpec {
  kind: StoreKind;
  /** The URL as shown to people: password hidden. */
  display: string;
  /** Server URL without our parameters (server stores). */
  url?: string;
  /** File path (file, sqlite); undefined when the URL gave none. */
  path?: string;
  table?: string;
  schema?: string;
  prefix?: string;
  collection?: string;
  database?: string;
}

export interface ZohoSpec {
  kind: ZohoKind;
  display: string;
  path?: string;
  url?: string;
  table?: string;
}

/** Our query parameters per scheme; everything else stays in the driver's URL. */
const PARAMS: Record<StoreKind | ZohoKind, readonly string[]> = {
  memory: [],
  file: [],
  sqlite: ["table"],
  mysql: ["table"],
  postgres: ["table", "schema"],
  redis: ["prefix"],
  mongo: ["collection", "database"],
  "zoho-file": [],
  "zoho-sqlite": ["table"],
  "zoho-mysql": ["table"],
};

const SERVER_SCHEMES: Record<string, StoreKind> = {
  "mysql:": "mysql",
  "postgres:": "postgres",
  "postgresql:": "postgres",
  "redis:": "redis",
  "rediss:": "redis",
  "mongodb:": "mongo",
  "mongodb+srv:": "mongo",
};

/** Thrown for input the user must fix (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Hides a URL's password: `mysql://root:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  }
}

function schemeOf(arg: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(arg);
  return m ? m[1]!.toLowerCase() : null;
}

export function isZohoSource(arg: string): boolean {
  return ["zoho-file", "zoho-mysql", "zoho-sqlite"].includes(schemeOf(arg) ?? "");
}

/** True when `arg` starts with a scheme this CLI knows. */
export function isKnownUrl(arg: string): boolean {
  const scheme = schemeOf(arg);
  return scheme !== null && (scheme in PARAMS || `${scheme}:` in SERVER_SCHEMES || ["memory", "file", "sqlite"].includes(scheme));
}

/** Splits `PATH?table=x` into path and our parameters (only when every parameter is ours). */
function splitPath(rest: string, allowed: readonly string[], arg: string): { path: string; params: URLSearchParams } {
  const q = rest.lastIndexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(rest.slice(q + 1));
    const keys = [...params.keys()];
    if (keys.length > 0 && keys.every((k) => allowed.includes(k))) return { path: rest.slice(0, q), params };
    if (keys.length > 0 && allowed.length > 0 && keys.some((k) => allowed.includes(k))) {
      throw new UsageError(`unknown parameter in "${arg}": allowed are ${allowed.join(", ")}`);
    }
  }
  return { path: rest, params: new URLSearchParams() };
}

function filePath(rest: string): string {
  return rest.startsWith("//") ? fileURLToPath(`file:${rest}`) : rest;
}

/** Takes our parameters out of a server URL; refuses unknown ones that look like ours. */
function serverUrl(arg: string, allowed: readonly string[]): { url: URL; params: Record<string, string> } {
  let url: URL;
  try {
    url = new URL(arg);
  } catch {
    throw new UsageError(`not a valid URL: ${redactUrl(arg)}`);
  }
  const params: Record<string, string> = {};
  for (const key of allowed) {
    const value = url.searchParams.get(key);
    if (value !== null) {
      params[key] = value;
      url.searchParams.delete(key);
    }
  }
  for (const key of ["table", "prefix", "collection", "schema"]) {
    if (url.searchParams.has(key)) throw new UsageError(`"${key}" is not a parameter of ${url.protocol} URLs (allowed: ${allowed.join(", ") || "none"})`);
  }
  return { url, params };
}

/** Parses a store URL (see the README's table). Throws UsageError for anything else. */
export function parseStoreUrl(arg: string): StoreSpec {
  const scheme = schemeOf(arg);
  if (scheme === "memory") {
    if (arg.slice("memory:".length) !== "") throw new UsageError(`"memory:" takes no path: ${arg}`);
    return { kind: "memory", display: "memory:" };
  }
  if (scheme === "file" || scheme === "sqlite") {
    const { path, params } = splitPath(arg.slice(scheme.length + 1), PARAMS[scheme], arg);
    const spec: StoreSpec = { kind: scheme, display: arg };
    if (path !== "") spec.path = resolve(filePath(path));
    if (params.get("table")) spec.table = params.get("table")!;
    return spec;
  }
  const kind = scheme ? SERVER_SCHEMES[`${scheme}:`] : undefined;
  if (kind) {
    const { url, params } = serverUrl(arg, PARAMS[kind]);
    return { kind, display: redactUrl(arg), url: url.toString(), ...params };
  }
  if (scheme && scheme.startsWith("zoho-")) throw new UsageError(`${scheme}: is a Zoho source, not a store: use it as the SOURCE of "import" or the target of "export"`);
  throw new UsageError(
    `not a store URL: "${redactUrl(arg)}". Use memory:, file:PATH, sqlite:PATH, mysql://…, postgres://…, redis://…, mongodb://… (see tokenstore --help)`,
  );
}

/** Parses a Zoho source: zoho-file:PATH, zoho-sqlite:PATH[?table=], zoho-mysql://user@host:port/db[?table=]. */
export function parseZohoUrl(arg: string): ZohoSpec {
  const scheme = schemeOf(arg);
  if (scheme === "zoho-file" || scheme === "zoho-sqlite") {
    const { path, params } = splitPath(arg.slice(scheme.length + 1), PARAMS[scheme], arg);
    if (path === "") throw new UsageError(`${scheme}: needs a path, e.g. ${scheme}:./${scheme === "zoho-file" ? "sdk_tokens.txt" : "zohooauth.db"}`);
    const spec: ZohoSpec = { kind: scheme, display: arg, path: resolve(filePath(path)) };
    if (params.get("table")) spec.table = params.get("table")!;
    return spec;
  }
  if (scheme === "zoho-mysql") {
    const { url, params } = serverUrl(`mysql:${arg.slice("zoho-mysql:".length)}`, PARAMS["zoho-mysql"]);
    return { kind: "zoho-mysql", display: redactUrl(arg), url: url.toString(), ...(params.table ? { table: params.table } : {}) };
  }
  throw new UsageError(`not a Zoho source: "${redactUrl(arg)}". Use zoho-file:PATH, zoho-sqlite:PATH or zoho-mysql://user@host:port/db`);
}

// ---------------------------------------------------------------- adapters

type Factory = (options: Record<string, unknown>) => TokenStore | Promise<TokenStore>;

const ADAPTERS: Record<Exclude<StoreKind, "memory">, { pkg: string; factory: string; driver: string }> = {
  file: { pkg: "@tokenstore/file", factory: "createFileStore", driver: "" },
  sqlite: { pkg: "@tokenstore/sqlite", factory: "createSqliteStore", driver: "better-sqlite3" },
  mysql: { pkg: "@tokenstore/mysql", factory: "createMysqlStore", driver: "mysql2" },
  postgres: { pkg: "@tokenstore/postgres", factory: "createPostgresStore", driver: "pg" },
  redis: { pkg: "@tokenstore/redis", factory: "createRedisStore", driver: "ioredis" },
  mongo: { pkg: "@tokenstore/mongo", factory: "createMongoStore", driver: "mongodb" },
};

/** Imports a package at run time (adapters may be missing or unbuilt: give a clear error). */
export async function loadModule(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new TokenStoreError("INVALID_OPTIONS", `cannot load ${specifier} (${detail}); is it installed and built?`, { cause: error });
  }
}

async function factoryFor(kind: Exclude<StoreKind, "memory">): Promise<Factory> {
  const { pkg, factory } = ADAPTERS[kind];
  const mod = await loadModule(pkg);
  const create = mod[factory];
  if (typeof create !== "function") throw new TokenStoreError("INVALID_OPTIONS", `${pkg} does not export ${factory}()`);
  return create as Factory;
}

/** The adapter options for a spec (path/url plus our parameters). */
function storeOptions(spec: StoreSpec, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (spec.path !== undefined) options.path = spec.path;
  if (spec.url !== undefined) options.url = spec.url;
  for (const key of ["table", "schema", "prefix", "collection", "database"] as const) if (spec[key] !== undefined) options[key] = spec[key];
  return { ...options, ...overrides };
}

/** Opens the store a URL names. */
export async function openStore(spec: StoreSpec): Promise<TokenStore> {
  if (spec.kind === "memory") return new MemoryTokenStore();
  if ((spec.kind === "file" || spec.kind === "sqlite") && spec.path === undefined) {
    throw new UsageError(`${spec.kind}: needs a path here, e.g. ${spec.kind}:./tokens.${spec.kind === "file" ? "json" : "db"}`);
  }
  return (await factoryFor(spec.kind))(storeOptions(spec));
}

// ---------------------------------------------------------------- conformance targets

const randomName = (prefix: string) => `${prefix}${randomBytes(5).toString("hex")}`;

/**
 * A conformance target for a URL: every test gets a fresh, empty location that is removed
 * afterwards (a temp file, a random table, key prefix or collection).
 */
export async function conformanceTarget(spec: StoreSpec): Promise<ConformanceTarget> {
  const name = spec.kind;
  if (spec.kind === "memory") {
    return {
      name,
      durable: false,
      shared: false,
      setup: () => {
        const store = new MemoryTokenStore(); // one location is one instance, reopened as itself
        return { open: () => store };
      },
    };
  }
  const create = await factoryFor(spec.kind);
  if (spec.kind === "file" || spec.kind === "sqlite") {
    const kind = spec.kind;
    const base = spec.path ?? tmpdir();
    await mkdir(base, { recursive: true });
    return {
      name,
      setup: async () => {
        const dir = await mkdtemp(join(base, `tokenstore-conformance-${kind}-`));
        const path = join(dir, kind === "file" ? "tokens.json" : "tokens.db");
        return { open: () => create(storeOptions(spec, { path })), destroy: () => rm(dir, { recursive: true, force: true }) };
      },
    };
  }
  if (spec.kind === "mysql" || spec.kind === "postgres") {
    const kind = spec.kind;
    return {
      name,
      setup: () => {
        const table = randomName(`${spec.table ?? "ts_conformance"}_`);
        return { open: () => create(storeOptions(spec, { table })), destroy: () => dropTables(kind, spec, table) };
      },
    };
  }
  if (spec.kind === "redis") {
    return {
      name,
      setup: () => {
        // Under the user's prefix when given (Redis ACLs often allow one key pattern only), in a
        // {hash tag} of our own so the adapter uses it as is and every key starts with it.
        const base = `${spec.prefix ?? ""}${randomName("tokenstore-conformance:")}:`;
        const prefix = base.includes("{") ? base : `{${base}}`;
        return { open: () => create(storeOptions(spec, { prefix })), destroy: () => deleteRedisKeys(spec.url!, [prefix, base, `{${base}}`]) };
      },
    };
  }
  return {
    name,
    setup: () => {
      const collection = randomName(`${spec.collection ?? "tokenstore_conformance"}_`);
      // Its own id counters too, so that dropping the test's collections leaves nothing behind.
      const countersCollection = `${collection}_counters`;
      return { open: () => create(storeOptions(spec, { collection, countersCollection })), destroy: () => dropMongoCollections(spec, collection) };
    },
  };
}

/** Drops the test's table and any table, sequence, view or routine the adapter made with its name as prefix. */
async function dropTables(kind: "mysql" | "postgres", spec: StoreSpec, table: string): Promise<void> {
  if (kind === "mysql") {
    const mysql = (await loadModule("mysql2/promise")) as unknown as { default: { createConnection(o: object): Promise<SqlConnection> } };
    const connection = await mysql.default.createConnection({ uri: spec.url, connectTimeout: 5000 });
    try {
      const [rows] = (await connection.query(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND (table_name = ? OR table_name LIKE ?)",
        [table, `${table}\\_%`],
      )) as [{ name: string }[]];
      for (const { name } of rows) await connection.query(`DROP TABLE IF EXISTS \`${name}\``);
      // Stored routines the adapter made for the table (e.g. its save procedure).
      const [routines] = (await connection.query(
        "SELECT routine_name AS name, routine_type AS type FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name LIKE ?",
        [`${table}\\_%`],
      )) as [{ name: string; type: string }[]];
      for (const { name, type } of routines) await connection.query(`DROP ${type === "FUNCTION" ? "FUNCTION" : "PROCEDURE"} IF EXISTS \`${name}\``);
    } finally {
      await connection.end();
    }
    return;
  }
  const pg = (await loadModule("pg")) as unknown as { default: { Client: new (o: object) => PgClient } };
  const client = new pg.default.Client({ connectionString: spec.url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const schema = spec.schema ?? null;
    const { rows } = await client.query(
      `SELECT c.relname AS name, c.relkind AS kind, n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = COALESCE($1, current_schema()) AND c.relkind IN ('r', 'S', 'v', 'm') AND (c.relname = $2 OR c.relname LIKE $3)`,
      [schema, table, `${table}\\_%`],
    );
    const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
    for (const row of rows.filter((r) => r.kind !== "S")) await client.query(`DROP ${row.kind === "r" ? "TABLE" : row.kind === "v" ? "VIEW" : "MATERIALIZED VIEW"} IF EXISTS ${quote(row.schema)}.${quote(row.name)} CASCADE`);
    for (const row of rows.filter((r) => r.kind === "S")) await client.query(`DROP SEQUENCE IF EXISTS ${quote(row.schema)}.${quote(row.name)} CASCADE`);
    // Functions and procedures the adapter made for the table.
    const routines = await client.query(
      `SELECT p.oid::regprocedure::text AS name, p.prokind AS kind, '' AS schema FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = COALESCE($1, current_schema()) AND p.proname LIKE $2`,
      [schema, `${table}\\_%`],
    );
    for (const row of routines.rows) await client.query(`DROP ${row.kind === "p" ? "PROCEDURE" : "FUNCTION"} IF EXISTS ${row.name} CASCADE`);
  } finally {
    await client.end();
  }
}

interface PgClient {
  connect(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<{ rows: { name: string; kind: string; schema: string }[] }>;
  end(): Promise<void>;
}

interface SqlConnection {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}

/** Deletes every key starting with one of `prefixes` (glob characters in them are escaped). */
async function deleteRedisKeys(url: string, prefixes: readonly string[]): Promise<void> {
  const Redis = ((await loadModule("ioredis")) as { default: new (url: string, o: object) => RedisClient }).default;
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on("error", () => {}); // failures surface through the awaited calls
  try {
    await client.connect();
    for (const prefix of new Set(prefixes)) {
      const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 500);
        if (keys.length > 0) await client.del(...keys);
        cursor = next;
      } while (cursor !== "0");
    }
  } finally {
    client.disconnect();
  }
}

interface RedisClient {
  connect(): Promise<void>;
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
  ping(): Promise<string>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

async function dropMongoCollections(spec: StoreSpec, collection: string): Promise<void> {
  const { MongoClient } = (await loadModule("mongodb")) as unknown as { MongoClient: new (url: string, o: object) => MongoClientLike };
  const client = new MongoClient(spec.url!, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    const db = client.db(spec.database);
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    for (const name of names.filter((n) => n === collection || n.startsWith(`${collection}_`) || n.startsWith(`${collection}.`))) await db.dropCollection(name);
  } finally {
    await client.close();
  }
}

interface MongoClientLike {
  connect(): Promise<unknown>;
  close(): Promise<void>;
  db(name?: string): {
    listCollections(filter: object, options: object): { toArray(): Promise<{ name: string }[]> };
    dropCollection(name: string): Promise<unknown>;
    command(command: object): Promise<unknown>;
  };
}

// ---------------------------------------------------------------- probing

/** Default server URLs (the repo's test servers); TOKENSTORE_*_URL overrides them. */
export const SERVER_DEFAULTS = [
  { kind: "mysql", env: "TOKENSTORE_MYSQL_URL", url: "mysql://root@127.0.0.1:3306/test", label: "MySQL" },
  { kind: "postgres", env: "TOKENSTORE_POSTGRES_URL", url: "postgres://postgres@127.0.0.1:5432/test", label: "PostgreSQL" },
  { kind: "redis", env: "TOKENSTORE_REDIS_URL", url: "redis://127.0.0.1:6379/0", label: "Redis" },
  { kind: "mongo", env: "TOKENSTORE_MONGO_URL", url: "mongodb://127.0.0.1:27017/tokenstore", label: "MongoDB" },
] as const;

/**
 * Checks that a server answers within `timeoutMs` (a real round trip with its driver).
 * Resolves null when it does, else a short reason (no secrets).
 */
export async function probe(spec: StoreSpec, timeoutMs = 1500): Promise<string | null> {
  if (!spec.url) return null;
  let cleanup: (() => unknown) | undefined;
  let timedOut = false;
  let attempt: () => Promise<void>;
  try {
    // Load the driver first: loading code is not the server's answer time.
    attempt = await prepareProbe(spec, timeoutMs, (fn) => {
      cleanup = fn;
      if (timedOut) void fn(); // a connection that opened after the deadline
    });
  } catch (error) {
    return probeReason(error);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      attempt(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    return null;
  } catch (error) {
    return probeReason(error);
  } finally {
    clearTimeout(timer);
    await cleanup?.();
  }
}

/** Loads the driver and returns one round trip to the server; `onOpen` gets the client's closer. */
async function prepareProbe(spec: StoreSpec, timeoutMs: number, onOpen: (close: () => unknown) => void): Promise<() => Promise<void>> {
  if (spec.kind === "mysql") {
    const mysql = (await loadModule("mysql2/promise")) as unknown as { default: { createConnection(o: object): Promise<SqlConnection & { destroy(): void }> } };
    return async () => {
      const connection = await mysql.default.createConnection({ uri: spec.url, connectTimeout: timeoutMs });
      onOpen(() => connection.destroy());
      await connection.query("SELECT 1");
    };
  }
  if (spec.kind === "postgres") {
    const pg = (await loadModule("pg")) as unknown as { default: { Client: new (o: object) => PgClient } };
    return async () => {
      const client = new pg.default.Client({ connectionString: spec.url, connectionTimeoutMillis: timeoutMs });
      onOpen(() => client.end().catch(() => {}));
      await client.connect();
      await client.query("SELECT 1");
    };
  }
  if (spec.kind === "redis") {
    const Redis = ((await loadModule("ioredis")) as { default: new (url: string, o: object) => RedisClient }).default;
    return async () => {
      const client = new Redis(spec.url!, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
      client.on("error", () => {});
      onOpen(() => client.disconnect());
      await client.connect();
      await client.ping();
    };
  }
  const { MongoClient } = (await loadModule("mongodb")) as unknown as { MongoClient: new (url: string, o: object) => MongoClientLike };
  return async () => {
    const client = new MongoClient(spec.url!, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
    onOpen(() => client.close().catch(() => {}));
    await client.connect();
    await client.db(spec.database).command({ ping: 1 });
  };
}

/** A reason safe to print: a network error's message or code, never a driver's data-bearing text. */
function probeReason(error: unknown): string {
  if (error instanceof TokenStoreError) return error.message;
  const e = error as { code?: unknown; message?: unknown; errors?: unknown[] };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" ? e.message.split("\n")[0]! : "";
  if (code === "ECONNREFUSED" || /ECONNREFUSED/.test(message)) return "connection refused";
  if (/no answer within|timed? ?out|ETIMEDOUT/i.test(message) || code === "ETIMEDOUT") return message || "timed out";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code) return `error ${code}`;
  return message.replace(/:\/\/[^@\s]*@/g, "://***@").slice(0, 160) || "unreachable";
}

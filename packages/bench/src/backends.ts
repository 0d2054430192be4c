import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { TokenStore } from "@tokenstore/core";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import mysql from "mysql2/promise";
import pg from "pg";
import { mysqlNaiveDriver, postgresNaiveDriver, type NaiveDriver } from "./naive.js";
import type { BenchToken } from "./tokens.js";

/** Server URLs, read from the environment when used. */
export const URLS = {
  get mysql() {
    return process.env.TOKENSTORE_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
  },
  get postgres() {
    return process.env.TOKENSTORE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  },
  get redis() {
    return process.env.TOKENSTORE_REDIS_URL ?? "redis://127.0.0.1:6379/0";
  },
  get mongo() {
    return process.env.TOKENSTORE_MONGO_URL ?? "mongodb://127.0.0.1:27017/tokenstore";
  },
};

/** The cheapest round trip to the same server with the same driver. */
export interface Floor {
  label: string;
  op(): Promise<unknown>;
  close(): Promise<void>;
}

/** One isolated store of the run (its own table, key prefix, collection or file). */
export interface OpenedStore {
  store: TokenStore;
  /** The store's file, for file-based stores. */
  path?: string;
  /** Closes the app-owned client the store was given (after the store is closed). */
  release?: () => Promise<void>;
}

export interface Backend {
  name: string;
  /** Server stores are compared with a floor; embedded ones with the naive SQLite sample only. */
  server: boolean;
  module: string;
  factory: string;
  /** Opens an isolated store named `name` (a safe identifier unique to this run). */
  open(create: (options: object) => TokenStore, name: string): Promise<OpenedStore>;
  /**
   * Optional fast setup: writes `tokens` where `open(…, name)` will find them, in a format the
   * store documents and exports. Returns false when it cannot.
   */
  prefill?(mod: Record<string, unknown>, name: string, tokens: BenchToken[]): Promise<boolean>;
  /**
   * Optional: opens the same store (same `name`) configured only for filling it fast, e.g. a
   * session that does not wait for each commit's disk flush. Used for setup, then closed.
   */
  openLoader?(create: (options: object) => TokenStore, name: string): Promise<OpenedStore>;
  /** How the loader differs, for the report. */
  loaderNote?: string;
  /**
   * Optional diagnostic reference for saves: the cheapest durable write on the same server (a
   * one-row autocommit UPDATE, a SET), in a table or key named `name`. A save cannot be cheaper
   * than one commit; this shows how much of a save's cost is the commit itself.
   */
  writeFloor?(name: string): Promise<Floor>;
  /** Connects the floor reference; rejects when the server does not answer. */
  floor?(): Promise<Floor>;
  /** The naive (Zoho-style) store on this server, if Zoho has one. */
  naive?: () => NaiveDriver;
  /** Why there is no naive reference, when there is none of its own. */
  naiveNote?: string;
  version(): Promise<string>;
  /** Drops everything the run created whose name starts with `prefix`. */
  cleanup(prefix: string): Promise<void>;
}

export interface BackendContext {
  /** Temp directory of this run (file and SQLite stores). */
  dir: string;
}

export function backends(ctx: BackendContext): Backend[] {
  const embeddedCleanup = async () => {}; // the run's temp dir is removed at the end
  return [
    {
      name: "memory",
      server: false,
      module: "@tokenstore/memory",
      factory: "createMemoryStore",
      open: async (create) => ({ store: create({}) }),
      version: async () => `Node ${process.version}`,
      cleanup: embeddedCleanup,
    },
    {
      name: "file",
      server: false,
      module: "@tokenstore/file",
      factory: "createFileStore",
      open: async (create, name) => {
        const path = join(ctx.dir, `${name}.json`);
        return { store: create({ path }), path };
      },
      prefill: async (mod, name, tokens) => {
        // The file store's own documented format (FILE_FORMAT/FILE_VERSION, see its README):
        // writing it directly is much faster than 100 000 saves, each of which rewrites the file.
        if (typeof mod.FILE_FORMAT !== "string" || typeof mod.FILE_VERSION !== "number") return false;
        mkdirSync(ctx.dir, { recursive: true });
        // Written in chunks: at 1 000 000 tokens the file is ~470 MB, near V8's longest string.
        const file = openSync(join(ctx.dir, `${name}.json`), "w", 0o600);
        try {
          writeSync(file, `{"format":${JSON.stringify(mod.FILE_FORMAT)},"version":${mod.FILE_VERSION},"nextId":${tokens.length + 1},\n"tokens":[`);
          for (let i = 0; i < tokens.length; i += 10_000) {
            const records = tokens.slice(i, i + 10_000).map((t) =>
              JSON.stringify({ id: t.id, userName: t.userName, clientId: t.clientId, clientSecret: t.clientSecret, refreshToken: t.refreshToken, accessToken: t.accessToken, grantToken: null, expiresAt: t.expiresAt, redirectUrl: t.redirectUrl, apiDomain: t.apiDomain }),
            );
            writeSync(file, `${i === 0 ? "\n" : ",\n"}${records.join(",\n")}`);
          }
          writeSync(file, `${tokens.length > 0 ? "\n" : ""}],\n"leases":{}}\n`);
        } finally {
          closeSync(file);
        }
        return true;
      },
      version: async () => `Node ${process.version}, local disk`,
      cleanup: embeddedCleanup,
    },
    {
      name: "sqlite",
      server: false,
      module: "@tokenstore/sqlite",
      factory: "createSqliteStore",
      open: async (create, name) => {
        const path = join(ctx.dir, `${name}.db`);
        return { store: create({ path }), path };
      },
      version: async () => {
        const db = new Database(":memory:");
        try {
          return `SQLite ${(db.prepare("select sqlite_version() as v").get() as { v: string }).v} (better-sqlite3)`;
        } finally {
          db.close();
        }
      },
      cleanup: embeddedCleanup,
    },
    {
      name: "mysql",
      server: true,
      module: "@tokenstore/mysql",
      factory: "createMysqlStore",
      // Server stores get an app-owned pool or client configured like the floor's, so the ratio
      // measures the store's queries, not a different pool size.
      open: async (create, name) => {
        const pool = mysqlPool();
        return { store: create({ pool, table: name }), release: () => pool.end() };
      },
      floor: async () => {
        const pool = mysqlPool();
        await pool.query("SELECT 1");
        return { label: "SELECT 1 (mysql2 pool, default 10 connections)", op: () => pool.query("SELECT 1"), close: () => pool.end() };
      },
      // Setup only: as many connections as saves in flight, so concurrent commits share flushes.
      loaderNote: "a pool of 32 connections",
      openLoader: async (create, name) => {
        const pool = mysqlPool(32);
        return { store: create({ pool, table: name }), release: () => pool.end() };
      },
      writeFloor: async (name) => {
        const pool = mysqlPool();
        const table = safeName(name);
        await pool.query(`create table if not exists ${table} (id int primary key, n bigint not null)`);
        await pool.query(`insert into ${table} (id, n) values ${rowIds().map((i) => `(${i}, 0)`).join(",")}`);
        let next = 0;
        const sql = `UPDATE ${table} SET n = n + 1 WHERE id = ?`;
        return { label: "one-row autocommit UPDATE (mysql2 pool)", op: () => pool.query(sql, [next++ % WRITE_ROWS]), close: () => pool.end() };
      },
      naive: () => mysqlNaiveDriver(URLS.mysql),
      version: () => withMysql(async (c) => `MySQL-protocol server ${String(((await c.query("select version() as v"))[0] as { v: string }[])[0]!.v)} (mysql2)`),
      cleanup: (prefix) =>
        withMysql(async (c) => {
          const [rows] = await c.query("select table_name as t from information_schema.tables where table_schema = database() and table_name like ?", [likePrefix(prefix)]);
          for (const { t } of rows as { t: string }[]) await c.query(`drop table if exists \`${safeName(t)}\``);
          // The MySQL store's save procedure (`<table>_save_v1`) lives next to its table.
          const [routines] = await c.query("select routine_name as r from information_schema.routines where routine_schema = database() and routine_type = 'PROCEDURE' and routine_name like ?", [likePrefix(prefix)]);
          for (const { r } of routines as { r: string }[]) await c.query(`drop procedure if exists \`${safeName(r)}\``);
        }),
    },
    {
      name: "postgres",
      server: true,
      module: "@tokenstore/postgres",
      factory: "createPostgresStore",
      open: async (create, name) => {
        const pool = pgPool();
        return { store: create({ pool, table: name }), release: () => pool.end() };
      },
      // Setup only: this session's commits do not wait for the WAL flush (nothing else changes;
      // the server and other sessions keep their settings). 1 000 000 saves fsync-bound take an hour.
      loaderNote: "a pool of 32 sessions with synchronous_commit=off",
      openLoader: async (create, name) => {
        const pool = pgPool({ options: "-c synchronous_commit=off", max: 32 });
        return { store: create({ pool, table: name }), release: () => pool.end() };
      },
      floor: async () => {
        const pool = pgPool();
        await pool.query("SELECT 1");
        return { label: "SELECT 1 (pg pool, default 10 connections)", op: () => pool.query("SELECT 1"), close: () => pool.end() };
      },
      writeFloor: async (name) => {
        const pool = pgPool();
        const table = safeName(name);
        await pool.query(`create table if not exists ${table} (id int primary key, n bigint not null)`);
        await pool.query(`insert into ${table} (id, n) values ${rowIds().map((i) => `(${i}, 0)`).join(",")}`);
        let next = 0;
        const sql = `UPDATE ${table} SET n = n + 1 WHERE id = $1`;
        return { label: "one-row autocommit UPDATE (pg pool)", op: () => pool.query(sql, [next++ % WRITE_ROWS]), close: () => pool.end() };
      },
      naive: () => postgresNaiveDriver(URLS.postgres),
      version: () => withPg(async (c) => `PostgreSQL ${String((await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v)} (pg)`),
      cleanup: (prefix) =>
        withPg(async (c) => {
          const like = likePrefix(prefix);
          const tables = await c.query<{ t: string }>("select tablename as t from pg_tables where schemaname = current_schema() and tablename like $1", [like]);
          for (const { t } of tables.rows) await c.query(`drop table if exists "${safeName(t)}" cascade`);
          const seqs = await c.query<{ t: string }>("select sequencename as t from pg_sequences where schemaname = current_schema() and sequencename like $1", [like]);
          for (const { t } of seqs.rows) await c.query(`drop sequence if exists "${safeName(t)}" cascade`);
        }),
    },
    {
      name: "redis",
      server: true,
      module: "@tokenstore/redis",
      factory: "createRedisStore",
      open: async (create, name) => {
        const client = redisClient();
        return { store: create({ client, prefix: `{${name}}:` }), release: async () => void client.disconnect() };
      },
      floor: async () => {
        const redis = redisClient();
        await redis.ping();
        return { label: "PING (ioredis, one connection)", op: () => redis.ping(), close: async () => void redis.disconnect() };
      },
      writeFloor: async (name) => {
        const redis = redisClient();
        let next = 0;
        return { label: "SET of one key (ioredis)", op: () => redis.set(`{${name}}:${next++ % WRITE_ROWS}`, String(next)), close: async () => void redis.disconnect() };
      },
      naiveNote: "Zoho has no Redis store or sample, so there is no naive Redis reference.",
      version: () =>
        withRedis(async (r) => `Redis ${/redis_version:(\S+)/.exec(await r.info("server"))?.[1] ?? "?"} (ioredis)`),
      cleanup: (prefix) =>
        withRedis(async (r) => {
          let cursor = "0";
          do {
            const [next, keys] = await r.scan(cursor, "MATCH", `{${prefix}*`, "COUNT", 1000);
            cursor = next;
            if (keys.length > 0) await r.unlink(...keys);
          } while (cursor !== "0");
        }),
    },
    {
      name: "mongo",
      server: true,
      module: "@tokenstore/mongo",
      factory: "createMongoStore",
      open: async (create, name) => {
        const client = await connectMongo();
        return { store: create({ db: client.db(), collection: name }), release: () => client.close() };
      },
      floor: async () => {
        const client = await connectMongo();
        const db = client.db();
        return { label: "ping command (mongodb driver)", op: () => db.command({ ping: 1 }), close: () => client.close() };
      },
      naiveNote: "Zoho has no MongoDB store or sample, so there is no naive MongoDB reference.",
      version: async () => {
        const client = await connectMongo();
        try {
          return `MongoDB ${String((await client.db().admin().buildInfo()).version)} (mongodb driver)`;
        } finally {
          await client.close();
        }
      },
      cleanup: async (prefix) => {
        const client = await connectMongo();
        try {
          for (const c of await client.db().listCollections({ name: { $regex: `^${prefix}` } }, { nameOnly: true }).toArray()) {
            await client.db().collection(c.name).drop();
          }
        } finally {
          await client.close();
        }
      },
    },
  ];
}

/** Rows of a write floor table: concurrent updates touch different rows (no lock waits). */
const WRITE_ROWS = 64;
const rowIds = () => Array.from({ length: WRITE_ROWS }, (_, i) => i);

function mysqlPool(connectionLimit = 10): mysql.Pool {
  return mysql.createPool({ uri: URLS.mysql, connectTimeout: 5000, connectionLimit });
}

function pgPool(extra: { options?: string; max?: number } = {}): InstanceType<typeof pg.Pool> {
  const pool = new pg.Pool({ connectionString: URLS.postgres, connectionTimeoutMillis: 5000, ...extra });
  pool.on("error", () => {});
  return pool;
}

function redisClient(): Redis {
  return new Redis(URLS.redis, { connectTimeout: 5000, maxRetriesPerRequest: 1 });
}

async function connectMongo(): Promise<MongoClient> {
  const client = new MongoClient(URLS.mongo, { serverSelectionTimeoutMS: 1500, connectTimeoutMS: 1500 });
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}

async function withMysql<T>(work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: URLS.mysql, connectTimeout: 5000 });
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

async function withPg<T>(work: (c: InstanceType<typeof pg.Client>) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: URLS.postgres, connectionTimeoutMillis: 5000 });
  c.on("error", () => {});
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

async function withRedis<T>(work: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(URLS.redis, { connectTimeout: 5000, maxRetriesPerRequest: 1, lazyConnect: true });
  await r.connect();
  try {
    return await work(r);
  } finally {
    r.disconnect();
  }
}

/** LIKE pattern for names starting with `prefix` (`_` escaped: it is a LIKE wildcard). */
function likePrefix(prefix: string): string {
  return `${safeName(prefix).replace(/_/g, "\\_")}%`;
}

/** Only names the bench generated ([a-z0-9_]) are ever quoted into SQL. */
export function safeName(name: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`unexpected table name ${JSON.stringify(name)}`);
  return name;
}

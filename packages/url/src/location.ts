import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenStore } from "@tokenstore/core";
import { adapterFactory, loadModule, openStore, parseStoreUrl, withParams, type OpenStoreOptions, type StoreKind } from "./stores.js";

/** A fresh, empty place for tokens that nothing else uses; a conformance `StoreLocation`. */
export interface IsolatedLocation {
  kind: StoreKind;
  /**
   * The store URL of exactly this location (with the password, if any: show it through
   * `redactUrl`). Another process can `openStore` it. `memory:` lives in this instance only.
   */
  url: string;
  /** A new store instance on the location (memory: the one instance). Close it yourself. */
  open(): Promise<TokenStore>;
  /** Removes everything the location holds: its file, tables, routines, keys or collection. */
  destroy(): Promise<void>;
}

/** Shaped like `ConformanceTarget` of `@tokenstore/conformance` (without depending on it). */
export interface ConformanceTarget {
  name: string;
  setup(): Promise<IsolatedLocation>;
  durable?: boolean;
  shared?: boolean;
}

const random = () => randomBytes(5).toString("hex");

/**
 * A new isolated location inside the place `url` names: a temp dir inside `file:DIR` or
 * `sqlite:DIR` (default: the OS temp dir), a random table (`<table>_<random>`, default base
 * `tokenstore_test`), key prefix (`<prefix><random>:`) or collection. `options` go to every `open()`.
 */
export async function isolatedLocation(url: string, options: OpenStoreOptions = {}): Promise<IsolatedLocation> {
  const parsed = parseStoreUrl(url);
  const at = (locationUrl: string, destroy: () => Promise<void>): IsolatedLocation => ({
    kind: parsed.kind,
    url: locationUrl,
    open: () => openStore(locationUrl, options),
    destroy,
  });
  switch (parsed.kind) {
    case "memory": {
      // Tokens live in the instance: the location is that one instance, reopened as itself.
      const store = await openStore("memory:", options);
      return { kind: "memory", url: "memory:", open: async () => store, destroy: () => store.close() };
    }
    case "file":
    case "sqlite": {
      const base = parsed.path ?? tmpdir();
      await mkdir(base, { recursive: true });
      const dir = await mkdtemp(join(base, `tokenstore-${parsed.kind}-`));
      const path = join(dir, parsed.kind === "file" ? "tokens.json" : "tokens.db");
      return at(withParams({ ...parsed, path }, {}), () => rm(dir, { recursive: true, force: true }));
    }
    case "mysql":
    case "postgres": {
      const table = `${parsed.table ?? "tokenstore_test"}_${random()}`;
      const drop = parsed.kind === "mysql" ? () => dropMysqlTable(parsed.serverUrl!, table) : () => dropPostgresTable(parsed.serverUrl!, table, parsed.schema);
      return at(withParams(parsed, { table }), drop);
    }
    case "redis": {
      const prefix = `${parsed.prefix ?? "tokenstore-test:"}${random()}:`;
      return at(withParams(parsed, { prefix }), () => deleteRedisKeys(parsed.serverUrl!, prefix));
    }
    case "mongo": {
      const collection = `${parsed.collection ?? "tokenstore_test"}_${random()}`;
      return at(withParams(parsed, { collection }), () => dropMongoCollection(parsed.serverUrl!, parsed.database, collection));
    }
  }
}

/**
 * A conformance target for the store `url` names: every test gets its own `isolatedLocation`,
 * destroyed afterwards. Loads the adapter now, so a missing one fails here.
 */
export async function conformanceTarget(url: string, options: OpenStoreOptions = {}): Promise<ConformanceTarget> {
  const { kind } = parseStoreUrl(url);
  await adapterFactory(kind);
  const setup = () => isolatedLocation(url, options);
  // One memory instance is one location: nothing survives it, nothing else shares it.
  return kind === "memory" ? { name: kind, setup, durable: false, shared: false } : { name: kind, setup };
}

// ---------------------------------------------------------------- cleanup, with the adapters' own drop statements

interface SqlConnection {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}

async function dropMysqlTable(serverUrl: string, table: string): Promise<void> {
  const { dropSql } = (await loadModule("@tokenstore/mysql")) as { dropSql(table: string): string[] };
  const mysql = (await loadModule("mysql2/promise")).default as { createConnection(o: object): Promise<SqlConnection> };
  const connection = await mysql.createConnection({ uri: serverUrl, connectTimeout: 5000 });
  try {
    for (const sql of dropSql(table)) await connection.query(sql);
  } finally {
    await connection.end();
  }
}

async function dropPostgresTable(serverUrl: string, table: string, schema: string | undefined): Promise<void> {
  const { dropSql } = (await loadModule("@tokenstore/postgres")) as { dropSql(table: string, schema?: string): string };
  const pg = (await loadModule("pg")).default as { Client: new (o: object) => SqlConnection & { connect(): Promise<void> } };
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(dropSql(table, schema));
  } finally {
    await client.end();
  }
}

export interface RedisClient {
  connect(): Promise<void>;
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
  ping(): Promise<string>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Deletes every key of the store with `prefix`: all start with the adapter's key base. */
async function deleteRedisKeys(serverUrl: string, prefix: string): Promise<void> {
  const { keyBase } = (await loadModule("@tokenstore/redis")) as { keyBase(prefix: string): string };
  const Redis = (await loadModule("ioredis")).default as new (url: string, o: object) => RedisClient;
  const client = new Redis(serverUrl, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on("error", () => {}); // failures surface through the awaited calls
  try {
    await client.connect();
    const pattern = `${keyBase(prefix).replace(/[*?[\]\\]/g, "\\$&")}*`;
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

export interface MongoClientLike {
  connect(): Promise<unknown>;
  close(): Promise<void>;
  db(name?: string): {
    dropCollection(name: string): Promise<unknown>;
    collection(name: string): { deleteOne(filter: object): Promise<unknown> };
    command(command: object): Promise<unknown>;
  };
}

/** Drops the collection and its id counter (a document in the adapter's counters collection). */
async function dropMongoCollection(serverUrl: string, database: string | undefined, collection: string): Promise<void> {
  const { MongoClient } = (await loadModule("mongodb")) as { MongoClient: new (url: string, o: object) => MongoClientLike };
  const client = new MongoClient(serverUrl, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    const db = client.db(database);
    await db.dropCollection(collection).catch((error: { codeName?: string }) => {
      if (error?.codeName !== "NamespaceNotFound") throw error;
    });
    await db.collection("tokenstore_counters").deleteOne({ _id: collection });
  } finally {
    await client.close();
  }
}

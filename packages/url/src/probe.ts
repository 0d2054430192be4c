import { TokenStoreError } from "@tokenstore/core";
import type { MongoClientLike, RedisClient } from "./location.js";
import { adapterFactory, loadModule, parseStoreUrl, type ParsedStoreUrl } from "./stores.js";

/**
 * Checks that a store on `url` can be used here: its adapter and driver load, and its server
 * answers one round trip within `timeoutMs` (loading is not timed). Resolves null when it can,
 * else a short reason that holds no secrets. Embedded stores (memory, file, sqlite) only load.
 */
export async function probeStore(url: string, timeoutMs = 1500): Promise<string | null> {
  const parsed = parseStoreUrl(url);
  let cleanup: (() => unknown) | undefined;
  let timedOut = false;
  let attempt: (() => Promise<void>) | null;
  try {
    await adapterFactory(parsed.kind);
    attempt = await prepareProbe(parsed, timeoutMs, (close) => {
      cleanup = close;
      if (timedOut) void close(); // a connection that opened after the deadline
    });
  } catch (error) {
    return probeReason(error);
  }
  if (!attempt) return null;
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

interface Connection {
  query(sql: string): Promise<unknown>;
}

/** Loads the driver and returns one round trip to the server (null: no server); `onOpen` gets the client's closer. */
async function prepareProbe(parsed: ParsedStoreUrl, timeoutMs: number, onOpen: (close: () => unknown) => void): Promise<(() => Promise<void>) | null> {
  const url = parsed.serverUrl;
  if (url === undefined) return null;
  if (parsed.kind === "mysql") {
    const mysql = (await loadModule("mysql2/promise")).default as { createConnection(o: object): Promise<Connection & { destroy(): void }> };
    return async () => {
      const connection = await mysql.createConnection({ uri: url, connectTimeout: timeoutMs });
      onOpen(() => connection.destroy());
      await connection.query("SELECT 1");
    };
  }
  if (parsed.kind === "postgres") {
    const pg = (await loadModule("pg")).default as { Client: new (o: object) => Connection & { connect(): Promise<void>; end(): Promise<void> } };
    return async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
      onOpen(() => client.end().catch(() => {}));
      await client.connect();
      await client.query("SELECT 1");
    };
  }
  if (parsed.kind === "redis") {
    const Redis = (await loadModule("ioredis")).default as new (url: string, o: object) => RedisClient;
    return async () => {
      const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
      let failure: unknown;
      client.on("error", (error) => (failure = error)); // its cause, e.g. ECONNREFUSED
      onOpen(() => client.disconnect());
      await client.connect().catch((error: unknown) => {
        throw failure ?? error;
      });
      await client.ping();
    };
  }
  const { MongoClient } = (await loadModule("mongodb")) as { MongoClient: new (url: string, o: object) => MongoClientLike };
  return async () => {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
    onOpen(() => client.close().catch(() => {}));
    await client.connect();
    await client.db(parsed.database).command({ ping: 1 });
  };
}

/** A reason safe to print: a network error's message or code, never a driver's data-bearing text. */
function probeReason(error: unknown): string {
  if (error instanceof TokenStoreError) return error.message;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" ? e.message.split("\n")[0]! : "";
  if (code === "ECONNREFUSED" || /ECONNREFUSED/.test(message)) return "connection refused";
  if (/no answer within|timed? ?out|ETIMEDOUT/i.test(message) || code === "ETIMEDOUT") return message || "timed out";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code) return `error ${code}`;
  return message.replace(/:\/\/[^@\s]*@/g, "://***@").slice(0, 160) || "unreachable";
}

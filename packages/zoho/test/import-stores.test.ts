import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TOKEN_FIELDS, type Token, type TokenStore } from "@tokenstore/core";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { readZohoTokenFile } from "../src/formats.js";
import { exportZohoFile, importZohoFile } from "../src/importers.js";

// The importers work on any TokenStore: the fixture goes into every real backend on this machine
// and comes back out unchanged.

const FIXTURE = fileURLToPath(new URL("../../../../shared/fixtures/zoho/sdk_tokens.txt", import.meta.url));
const MYSQL_URL = process.env.TOKENSTORE_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const POSTGRES_URL = process.env.TOKENSTORE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.TOKENSTORE_REDIS_URL ?? "redis://127.0.0.1:6379/0";

/** pg has no type declarations here: the little we use, typed. */
interface PgClient {
  connect(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
const PG_MODULE = "pg";
const pgClient = async (url: string): Promise<PgClient> => {
  const { default: pg } = (await import(PG_MODULE)) as { default: { Client: new (o: object) => PgClient } };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
};

const name = () => `zoho_import_${randomBytes(5).toString("hex")}`;

/** Opens a store on a fresh location and returns it with the function that removes the location. */
type Kind = [string, () => Promise<{ store: TokenStore; cleanup: () => Promise<void> }>];

const KINDS: Kind[] = [
  ["file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zoho-import-file-"));
    const { createFileStore } = await import("@tokenstore/file");
    return { store: createFileStore({ path: join(dir, "tokens.json") }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  ["sqlite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zoho-import-sqlite-"));
    const { createSqliteStore } = await import("@tokenstore/sqlite");
    return { store: createSqliteStore({ path: join(dir, "tokens.db") }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  ["mysql", async () => {
    const table = name();
    const { createMysqlStore } = await import("@tokenstore/mysql");
    return {
      store: createMysqlStore({ url: MYSQL_URL, table }),
      cleanup: async () => {
        const c = await mysql.createConnection({ uri: MYSQL_URL });
        const [tables] = (await c.query("SELECT table_name AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND (table_name = ? OR table_name LIKE ?)", [table, `${table}\\_%`])) as unknown as [{ n: string }[]];
        for (const { n } of tables) await c.query(`DROP TABLE IF EXISTS \`${n}\``);
        const [routines] = (await c.query("SELECT routine_name AS n FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name LIKE ?", [`${table}\\_%`])) as unknown as [{ n: string }[]];
        for (const { n } of routines) await c.query(`DROP PROCEDURE IF EXISTS \`${n}\``);
        await c.end();
      },
    };
  }],
  ["postgres", async () => {
    const table = name();
    const { createPostgresStore } = await import("@tokenstore/postgres");
    return {
      store: createPostgresStore({ url: POSTGRES_URL, table }),
      cleanup: async () => {
        const c = await pgClient(POSTGRES_URL);
        await c.query(`DROP TABLE IF EXISTS "${table}", "${table}_ids" CASCADE`);
        const { rows } = await c.query("SELECT p.oid::regprocedure::text AS n FROM pg_proc p WHERE p.proname LIKE $1", [`${table}\\_%`]);
        for (const { n } of rows as { n: string }[]) await c.query(`DROP FUNCTION IF EXISTS ${n} CASCADE`);
        await c.end();
      },
    };
  }],
  ["redis", async () => {
    const prefix = `{zoho-import:${randomBytes(5).toString("hex")}:}`;
    const { createRedisStore } = await import("@tokenstore/redis");
    return {
      store: createRedisStore({ url: REDIS_URL, prefix }),
      cleanup: async () => {
        const r = new Redis(REDIS_URL);
        let cursor = "0";
        do {
          const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
          if (keys.length > 0) await r.del(...keys);
          cursor = next;
        } while (cursor !== "0");
        r.disconnect();
      },
    };
  }],
];

const plain = (t: Token) => Object.fromEntries(TOKEN_FIELDS.map((f) => [f, t[f]]));

describe.each(KINDS)("importing the Zoho fixture into a %s store", (_kind, open) => {
  it("keeps every token and value, is idempotent, and exports back to the same file", async () => {
    const { store, cleanup } = await open();
    const dir = mkdtempSync(join(tmpdir(), "zoho-import-out-"));
    try {
      const parsed = await readZohoTokenFile(FIXTURE);
      expect(await importZohoFile(FIXTURE, store)).toMatchObject({ inserted: 12, skipped: [] });
      expect((await store.getTokens()).map(plain)).toEqual(parsed.records.map((r) => r.token));
      expect((await store.findToken({ userName: "o'neil@example.net" }))?.id).toBe("5");
      expect(await importZohoFile(FIXTURE, store)).toMatchObject({ inserted: 0, updated: 0, unchanged: 12 });
      await exportZohoFile(store, join(dir, "out.txt"));
      expect((await readZohoTokenFile(join(dir, "out.txt"))).records).toEqual(parsed.records);
    } finally {
      await store.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

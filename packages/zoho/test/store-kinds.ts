import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenStore } from "@tokenstore/core";

/**
 * Every TokenStore the Zoho SDK tests run against, each at a fresh private location per test
 * (temp dir, random table or key prefix) so that concurrent test runs never meet.
 * Adapter packages are imported dynamically: one that is missing or broken is skipped with
 * its reason instead of failing the others.
 */

export interface StoreLocation {
  /** A store on this location: a new instance each time, so a second open() is a "restart". */
  open(): Promise<TokenStore>;
  /** Closes a store open() returned. */
  close(store: TokenStore): Promise<void>;
  /** Removes everything the location holds (only what this test created). */
  destroy(): Promise<void>;
}

export interface StoreKind {
  name: string;
  /** Why the kind cannot run here, or null. */
  skip: string | null;
  location(): Promise<StoreLocation>;
}

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const suffix = () => randomBytes(5).toString("hex");

// A variable specifier keeps typechecking independent of which adapters exist yet.
async function load(name: string): Promise<{ module: any; skip: string | null }> {
  try {
    return { module: await import(/* @vite-ignore */ name), skip: null };
  } catch (error) {
    return { module: null, skip: `${name} cannot be imported (${error instanceof Error ? error.message.split("\n")[0] : String(error)})` };
  }
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "tokenstore-zoho-"));
}

/** Opens stores from a factory; for stores whose data lives outside the instance. */
function reopening(create: () => Promise<TokenStore> | TokenStore, destroy: () => Promise<void>): StoreLocation {
  return { open: async () => create(), close: (store) => store.close(), destroy };
}

export async function storeKinds(): Promise<StoreKind[]> {
  const [memory, file, sqlite, mysql, postgres, redis, mongo] = await Promise.all(
    ["@tokenstore/memory", "@tokenstore/file", "@tokenstore/sqlite", "@tokenstore/mysql", "@tokenstore/postgres", "@tokenstore/redis", "@tokenstore/mongo"].map(load),
  );
  return [
    {
      name: "memory",
      skip: memory!.skip,
      // Memory dies with its instance: a "restart" keeps the instance, and only the SDK starts afresh.
      async location() {
        const store: TokenStore = memory!.module.createMemoryStore();
        return { open: async () => store, close: async () => {}, destroy: () => store.close() };
      },
    },
    {
      name: "file",
      skip: file!.skip,
      async location() {
        const dir = await tempDir();
        const path = join(dir, "tokens.json");
        return reopening(() => file!.module.createFileStore({ path }), () => rm(dir, { recursive: true, force: true }));
      },
    },
    {
      name: "sqlite",
      skip: sqlite!.skip,
      async location() {
        const dir = await tempDir();
        const path = join(dir, "zohooauth.db");
        return reopening(() => sqlite!.module.createSqliteStore({ path }), () => rm(dir, { recursive: true, force: true }));
      },
    },
    {
      name: "mysql",
      skip: mysql!.skip,
      async location() {
        const url = env("TOKENSTORE_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
        const table = `zoho_sdk_${suffix()}`;
        return reopening(
          () => mysql!.module.createMysqlStore({ url, table }),
          async () => {
            const { createConnection } = await import("mysql2/promise");
            const connection = await createConnection(url);
            try {
              const [rows] = await connection.query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?", [`${table}%`]);
              for (const { name } of rows as { name: string }[]) await connection.query(`DROP TABLE IF EXISTS \`${name}\``);
            } finally {
              await connection.end();
            }
          },
        );
      },
    },
    {
      name: "postgres",
      skip: postgres!.skip,
      async location() {
        const url = env("TOKENSTORE_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
        const table = `zoho_sdk_${suffix()}`;
        return reopening(
          () => postgres!.module.createPostgresStore({ url, table }),
          async () => {
            const pgModule = "pg"; // no @types/pg here: untyped on purpose
            const { default: pg } = await import(/* @vite-ignore */ pgModule);
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            try {
              const { rows } = await client.query("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1", [`${table}%`]);
              for (const { name } of rows as { name: string }[]) await client.query(`DROP TABLE IF EXISTS "${name}"`);
            } finally {
              await client.end();
            }
          },
        );
      },
    },
    {
      name: "redis",
      skip: redis!.skip,
      async location() {
        const url = env("TOKENSTORE_REDIS_URL", "redis://127.0.0.1:6379/0");
        const prefix = `tokenstore-zoho-test:${suffix()}:`;
        return reopening(
          () => redis!.module.createRedisStore({ url, prefix }),
          async () => {
            const store: TokenStore = redis!.module.createRedisStore({ url, prefix });
            try {
              await store.deleteTokens();
            } finally {
              await store.close();
            }
          },
        );
      },
    },
    {
      name: "mongo",
      // No MongoDB server on this machine: runs only when TOKENSTORE_MONGO_URL is set.
      skip: mongo!.skip ?? (process.env.TOKENSTORE_MONGO_URL ? null : "no MongoDB server here (set TOKENSTORE_MONGO_URL to run it)"),
      async location() {
        const url = env("TOKENSTORE_MONGO_URL", "mongodb://127.0.0.1:27017/tokenstore");
        const collection = `zoho_sdk_${suffix()}`;
        const countersCollection = `${collection}_counters`;
        return reopening(
          () => mongo!.module.createMongoStore({ url, collection, countersCollection }),
          async () => {
            const { MongoClient } = await import("mongodb");
            const client = await MongoClient.connect(url, { serverSelectionTimeoutMS: 2000 });
            try {
              for (const name of [collection, countersCollection]) await client.db().dropCollection(name).catch(() => {});
            } finally {
              await client.close();
            }
          },
        );
      },
    },
  ];
}

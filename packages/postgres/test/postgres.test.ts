import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import pg from "pg";
import { isTokenStoreError, type PartialToken } from "@tokenstore/core";
import { sampleToken } from "@tokenstore/conformance";
import { afterAll, afterEach, beforeAll, describe, it } from "vitest";
import { createPostgresStore, dropSql, migrate, PostgresTokenStore, schemaSql } from "../src/index.js";
import { freePort, PrivatePostgres, privateServerUnavailable } from "./server.js";

const URL = process.env.TOKENSTORE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const admin = new pg.Pool({ connectionString: URL, max: 2 });
const tables: string[] = [];
const stores: PostgresTokenStore[] = [];

function freshTable(): string {
  const table = `ts_pg_${randomBytes(6).toString("hex")}`;
  tables.push(table);
  return table;
}

function open(table: string, extra: Partial<ConstructorParameters<typeof PostgresTokenStore>[0]> = {}): PostgresTokenStore {
  const store = createPostgresStore({ url: URL, table, poolSize: 1, ...extra });
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  for (const table of tables.splice(0)) await admin.query(dropSql(table));
});
afterAll(() => admin.end());

async function rejectsWith(call: Promise<unknown>, code: string): Promise<Error> {
  const error = await call.then(
    () => assert.fail(`expected ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(isTokenStoreError(error), `expected a TokenStoreError ${code}, got ${inspect(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe("postgres schema", () => {
  it("many stores starting at once on an empty database all create the schema and save", async () => {
    const table = freshTable();
    const many = Array.from({ length: 12 }, () => open(table));
    const saved = await Promise.all([
      ...many.map((s, i) => s.saveToken(sampleToken(i))),
      migrate({ url: URL, table }).then(() => null),
      migrate({ url: URL, table }).then(() => null),
    ]);
    assert.equal(new Set(saved.filter(Boolean).map((t) => t!.id)).size, 12);
    assert.equal((await many[0]!.getTokens()).length, 12);
  });

  it("schemaSql is the migration users can run themselves, and it is idempotent", async () => {
    const table = freshTable();
    const sql = schemaSql(table);
    assert.match(sql, /CREATE UNIQUE INDEX IF NOT EXISTS "ts_pg_\w+_access" ON "ts_pg_\w+" \(access_key\)/);
    await admin.query(sql);
    await admin.query(sql);
    const store = open(table);
    assert.equal((await store.saveToken(sampleToken(1))).id, "1");
  });

  it("rejects table and schema names that are not plain identifiers", () => {
    for (const table of ["x; DROP TABLE y", 'a"b', "1abc", "", "a".repeat(49), "ä"]) {
      assert.throws(() => createPostgresStore({ url: URL, table }), (e: unknown) => isTokenStoreError(e, "INVALID_OPTIONS"));
    }
    assert.throws(() => createPostgresStore({ url: URL, schema: "public.x" }), (e: unknown) => isTokenStoreError(e, "INVALID_OPTIONS"));
    assert.throws(() => createPostgresStore({} as never), (e: unknown) => isTokenStoreError(e, "INVALID_OPTIONS"));
  });

  it("refuses a table whose index names another relation already has, instead of losing a unique key", async () => {
    const table = freshTable();
    await admin.query(`CREATE TABLE "${table}_access" (x int)`);
    try {
      const error = await rejectsWith(open(table).saveToken({ userName: "alice", accessToken: "SAME" }), "INVALID_OPTIONS");
      assert.match(error.message, /another relation has one of these names/);
    } finally {
      await admin.query(`DROP TABLE IF EXISTS "${table}_access"`);
    }
  });

  it("uses the given schema", async () => {
    const schema = `ts_schema_${randomBytes(6).toString("hex")}`;
    await admin.query(`CREATE SCHEMA "${schema}"`);
    try {
      const store = open("tokens", { schema });
      await store.saveToken(sampleToken(1));
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".tokens`);
      assert.equal(rows[0].n, 1);
      await store.close();
    } finally {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });
});

describe("postgres ids and conflicts", () => {
  it("imported decimal ids move the id counter, so generated ids never collide or reuse them", async () => {
    const store = open(freshTable());
    assert.equal((await store.saveToken(sampleToken(1))).id, "1");
    assert.equal((await store.saveToken(sampleToken(2, { id: "1000" }))).id, "1000");
    assert.equal((await store.saveToken(sampleToken(3))).id, "1001");
    await store.deleteToken("1001");
    await store.saveToken(sampleToken(4, { id: "500" })); // lower than the counter: leaves it alone
    assert.equal((await store.saveToken(sampleToken(5))).id, "1002");
    assert.equal((await store.saveToken(sampleToken(6, { id: "legacy_abc" }))).id, "legacy_abc");
    assert.equal((await store.saveToken(sampleToken(7))).id, "1003");
  });

  it("CONFLICT names the key but never carries token values, in message or cause", async () => {
    const store = open(freshTable());
    const a = await store.saveToken(sampleToken("a", { accessToken: "SECRET-ACCESS-a" }));
    await store.saveToken(sampleToken("b"));
    for (const attempt of [
      store.saveToken({ userName: "userb@example.com", clientId: "1000.CLIENT", accessToken: a.accessToken }), // update path
      store.saveToken({ userName: "new@example.com", accessToken: a.accessToken }), // insert path
    ]) {
      const error = await rejectsWith(attempt, "CONFLICT");
      assert.match(error.message, /access token/);
      assert.ok(!inspect(error, { depth: 5 }).includes("SECRET-ACCESS-a"));
    }
  });

  it("warmed-up instances racing: one identity leaves one token; one contested key gives one owner and CONFLICTs", async () => {
    const table = freshTable();
    const racers = Array.from({ length: 30 }, () => new PostgresTokenStore({ url: URL, table, poolSize: 1 }));
    stores.push(...racers);
    await Promise.all(racers.map((s, i) => s.saveToken({ userName: `warm${i}` }))); // connected, schema ready: the saves below overlap
    for (let round = 0; round < 3; round++) {
      const same = await Promise.all(racers.map((s, i) => s.saveToken(sampleToken(`same${round}`, { accessToken: `at-${round}-${i}`, refreshToken: `rt-${round}-${i}` }))));
      assert.equal(new Set(same.map((t) => t.id)).size, 1);
      const contested = await Promise.allSettled(racers.map((s, i) => s.saveToken({ userName: `c${round}-${i}`, accessToken: `contested-${round}` })));
      assert.equal(contested.filter((r) => r.status === "fulfilled").length, 1, "exactly one token gets the access token");
      for (const r of contested) if (r.status === "rejected") assert.ok(isTokenStoreError(r.reason, "CONFLICT"), String(r.reason));
    }
  });

  it("a bring-your-own pool is used and never closed by close()", async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 2 });
    const appErrorListeners = pool.listenerCount("error");
    try {
      const store = createPostgresStore({ pool, table: freshTable() });
      const saved = await store.saveToken(sampleToken(1));
      assert.equal((await store.findToken({ userName: saved.userName }))?.id, saved.id);
      await store.close();
      assert.equal((await pool.query("SELECT 1 AS one")).rows[0].one, 1, "the app's pool still works");
      assert.equal(pool.listenerCount("error"), appErrorListeners, "the store removed its idle-error listener");
      assert.equal(pool.ending, false);
    } finally {
      await pool.end();
    }
  });
});

describe("postgres indexes", () => {
  it("8 KB tokens: every lookup (find and save) uses a digest index, never a scan", async () => {
    const table = freshTable();
    const pool = new pg.Pool({ connectionString: URL, max: 1 });
    const seen: pg.QueryConfig[] = [];
    const query = pool.query.bind(pool) as (config: pg.QueryConfig) => Promise<unknown>;
    (pool as unknown as { query: unknown }).query = (config: pg.QueryConfig) => {
      if (typeof config === "object") seen.push(config);
      return query(config);
    };
    try {
      const store = createPostgresStore({ pool, table });
      const big = (c: string) => c.repeat(8192);
      const token = { userName: `${big("u")}😀`, clientId: big("c"), clientSecret: "s", accessToken: big("a"), refreshToken: big("r"), grantToken: big("g") };
      const saved = await store.saveToken(token);
      const creds = { clientId: "c", clientSecret: "s" };
      const lookups: [string, () => Promise<unknown>, string[]][] = [
        ["user", () => store.findToken({ userName: token.userName }), ["identity"]],
        ["user + client", () => store.findToken({ userName: token.userName, clientId: token.clientId }), ["identity"]],
        ["access", () => store.findToken({ accessToken: token.accessToken }), ["access"]],
        ["grant then refresh", () => store.findToken({ ...creds, grantToken: token.grantToken, refreshToken: token.refreshToken }), ["grant", "refresh"]],
        ["refresh", () => store.findToken({ ...creds, refreshToken: token.refreshToken }), ["refresh"]],
        ["id", () => store.findTokenById(saved.id), ["pkey"]],
        ["save by user + client", () => store.saveToken({ userName: token.userName, clientId: token.clientId, expiresAt: 1_900_000_000_000 }), ["identity"]],
        ["save by grant or refresh", () => store.saveToken({ ...creds, grantToken: token.grantToken, refreshToken: token.refreshToken }), ["grant", "refresh"]],
      ];
      const client = await admin.connect();
      try {
        await client.query("BEGIN");
        await client.query("SET LOCAL enable_seqscan = off"); // a tiny table: ask whether an index CAN serve the lookup
        for (const [what, lookup, indexes] of lookups) {
          seen.length = 0;
          await lookup();
          const last = seen.at(-1)!;
          const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${last.text}`, last.values);
          const plan = JSON.stringify(rows[0]["QUERY PLAN"]);
          assert.ok(!new RegExp(`"Seq Scan"[^}]*"Relation Name":"${table}"`).test(plan), `${what}: sequential scan of the token table in ${plan}`);
          for (const index of indexes) assert.ok(plan.includes(`"${table}_${index}"`), `${what}: index ${table}_${index} not used in ${plan}`);
        }
      } finally {
        await client.query("ROLLBACK");
        client.release();
      }
      await store.close();
    } finally {
      await pool.end();
    }
  });
});

const unavailable = privateServerUnavailable();
if (unavailable) console.warn(`\n!!! SKIPPING the postgres outage test: ${unavailable} !!!\n`);

describe.skipIf(unavailable !== null)("postgres outage and recovery (private server)", () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = new PrivatePostgres(await freePort());
    await server.init();
    await server.start();
  }, 60_000);
  afterAll(async () => {
    await server?.destroy();
  });

  it("rejects promptly with BACKEND_UNAVAILABLE while the server is down, and the same instance works again after a restart", async () => {
    const store = createPostgresStore({ url: server.url, connectTimeoutMs: 2000, poolSize: 3 });
    stores.push(store);
    const token: PartialToken = sampleToken(1);
    const saved = await store.saveToken(token);
    await store.findToken({ userName: saved.userName }); // leave idle connections in the pool

    await server.stop();
    const calls: [string, () => Promise<unknown>][] = [
      ["findToken", () => store.findToken({ userName: saved.userName })],
      ["saveToken", () => store.saveToken(sampleToken(2))],
      ["getTokens", () => store.getTokens()],
      ["findTokenById", () => store.findTokenById(saved.id)],
      ["acquireLease", () => store.acquireLease(saved.id, "h", 1000)],
    ];
    for (const [what, call] of calls) {
      const started = performance.now();
      await rejectsWith(call(), "BACKEND_UNAVAILABLE").catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
      const ms = performance.now() - started;
      assert.ok(ms < 10_000, `${what} took ${Math.round(ms)} ms to fail`);
    }

    // A store first used while the server is down: its schema setup fails and is tried again later.
    const late = createPostgresStore({ url: server.url, connectTimeoutMs: 2000, table: "late_tokens" });
    stores.push(late);
    await rejectsWith(late.findToken({ userName: "x" }), "BACKEND_UNAVAILABLE");

    await server.start();
    assert.equal((await late.saveToken(sampleToken(4))).id, "1");
    const again = await store.saveToken(sampleToken(3));
    assert.equal((await store.findToken({ userName: again.userName }))?.id, again.id);
    assert.equal((await store.findTokenById(saved.id))?.userName, saved.userName);
  }, 60_000);

  it("fails promptly when nothing listens on the port", async () => {
    const store = createPostgresStore({ url: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`, connectTimeoutMs: 2000 });
    stores.push(store);
    const started = performance.now();
    await rejectsWith(store.findToken({ userName: "x" }), "BACKEND_UNAVAILABLE");
    assert.ok(performance.now() - started < 10_000);
  });
});

describe("postgres errors", () => {
  it("a missing database is a BACKEND_ERROR naming the code, not an outage", async () => {
    const url = new globalThis.URL(URL);
    url.pathname = "/no_such_database_tokenstore";
    const store = open("t", { url: url.toString() });
    const error = await rejectsWith(store.findToken({ userName: "x" }), "BACKEND_ERROR");
    assert.match(error.message, /3D000/);
  });
});

import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTokenStoreError, TOKEN_FIELDS, type Token, type TokenStoreErrorCode } from "@tokenstore/core";
import { createSqliteStore, migrate, SqliteTokenStore, ZOHO_COLUMNS, type SqliteStoreOptions } from "../src/index.js";

const ZOHO_FIXTURE = fileURLToPath(new URL("../../../fixtures/zoho/zohooauth.db", import.meta.url));

let dir: string;
let path: string;
const cleanups: (() => unknown)[] = [];

function openStore(options: Partial<SqliteStoreOptions> = {}): SqliteTokenStore {
  const store = createSqliteStore(options.database ? { ...options } : { path, ...options });
  cleanups.push(() => store.close());
  return store;
}

function openDb(file = path, options: Database.Options = {}): Database.Database {
  const db = new Database(file, options);
  cleanups.push(() => db.close());
  return db;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokenstore-sqlite-"));
  path = join(dir, "tokens.db");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function expectError(promise: Promise<unknown>, code: TokenStoreErrorCode): Promise<Error> {
  const error = await promise.then(
    () => expect.fail(`expected ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  expect(isTokenStoreError(error), inspect(error)).toBe(true);
  expect((error as { code: string }).code, (error as Error).message).toBe(code);
  return error as Error;
}

const fields = (token: Token | null) => (token ? Object.fromEntries(TOKEN_FIELDS.map((f) => [f, token[f]])) : null);
const sha256 = async (file: string) => createHash("sha256").update(await readFile(file)).digest("hex");

describe("Zoho's SQLite sample database, opened in place (on a copy)", () => {
  let zohoRows: Record<string, unknown>[];

  beforeEach(async () => {
    const fixtureHash = await sha256(ZOHO_FIXTURE);
    await copyFile(ZOHO_FIXTURE, path);
    const raw = openDb(path, { readonly: true });
    zohoRows = raw.prepare("SELECT * FROM oauthtoken ORDER BY id").all() as Record<string, unknown>[];
    raw.close();
    expect(zohoRows).toHaveLength(4);
    expect(await sha256(ZOHO_FIXTURE)).toBe(fixtureHash);
  });

  it("serves Zoho's rows: every field as Zoho stored it, NULL as null, expiry as epoch ms", async () => {
    const store = openStore();
    expect(fields(await store.findToken({ userName: "ana.lima@example.com" }))).toEqual({
      id: "1",
      userName: "ana.lima@example.com",
      clientId: "1000.ANA0CLIENT",
      clientSecret: "secretana0001",
      refreshToken: "1000.rt.ana.0001",
      accessToken: "1000.at.ana.0001",
      grantToken: "1000.gt.ana.0001",
      expiresAt: 1_767_229_200_000,
      redirectUrl: "https://app.example.com/oauth/callback",
      apiDomain: "https://www.zohoapis.com",
    });
    const bare = await store.findToken({ accessToken: "1000.at.bare.0001" });
    expect(fields(bare)).toEqual({ ...Object.fromEntries(TOKEN_FIELDS.map((f) => [f, null])), id: "4", accessToken: "1000.at.bare.0001" });
    expect((await store.findToken({ clientId: "1000.SRV0CLIENT", clientSecret: "secretsrv0001", refreshToken: "1000.rt.srv.0001" }))?.id).toBe("3");
    const all = await store.getTokens();
    expect(all.map((t) => t.id)).toEqual(["1", "2", "3", "4"]);
    for (const [i, row] of zohoRows.entries()) {
      const token = all[i]!;
      for (const [c, column] of ZOHO_COLUMNS.entries()) {
        const field = TOKEN_FIELDS[c]!;
        expect(token[field], `${row.id}.${column}`).toBe(column === "expiry_time" && row[column] !== null ? Number(row[column]) : row[column]);
      }
    }
  });

  it("saves new users and updates Zoho's rows, losing nothing and keeping Zoho's layout", async () => {
    const store = openStore();
    const created = await store.saveToken({ userName: "new@example.com", clientId: "1000.NEW", refreshToken: "1000.rt.new", expiresAt: 1_767_300_000_000 });
    expect(created.id).toBe("5");
    await store.saveToken({ userName: "bo.chen@example.org", clientId: "1000.BO00CLIENT", accessToken: "1000.at.bo.0002", expiresAt: 1_767_240_000_000 });
    store.close();

    const db = openDb();
    const columns = (db.prepare("PRAGMA table_info(oauthtoken)").all() as { name: string; type: string }[]).map((c) => c.name);
    expect(columns).toEqual([...ZOHO_COLUMNS, "lease_holder", "lease_until"]);
    const rows = db.prepare("SELECT * FROM oauthtoken ORDER BY CAST(id AS INTEGER)").all() as Record<string, unknown>[];
    const { lease_holder, lease_until, ...bo } = rows[1]!;
    expect({ lease_holder, lease_until }).toEqual({ lease_holder: null, lease_until: null });
    // Only the saved fields changed; Zoho's NULLs (grant_token, redirect_url) stay NULL.
    expect(bo).toEqual({ ...zohoRows[1], access_token: "1000.at.bo.0002", expiry_time: "1767240000000" });
    for (const i of [0, 2, 3]) expect(rows[i]).toMatchObject(zohoRows[i]!);
    // New rows look like Zoho's: text id, decimal-text expiry, NULL for absent values.
    expect(db.prepare("SELECT id, typeof(id) AS tid, expiry_time, typeof(expiry_time) AS texp, access_token FROM oauthtoken WHERE id = '5'").get()).toEqual({
      id: "5",
      tid: "text",
      expiry_time: "1767300000000",
      texp: "text",
      access_token: null,
    });
  });

  it("skips ids that Zoho's own code inserted behind the store's back", async () => {
    const store = openStore();
    expect((await store.saveToken({ userName: "a@example.com" })).id).toBe("5");
    const db = openDb();
    db.prepare("INSERT INTO oauthtoken (id, user_name) VALUES ('6', 'zoho-inserted@example.com')").run();
    expect((await store.saveToken({ userName: "b@example.com" })).id).toBe("7");
    expect((await store.findToken({ userName: "zoho-inserted@example.com" }))?.id).toBe("6");
  });

  it("rows sharing a unique key (Zoho's racy duplicates) are kept; the key degrades to a plain index with a warning", async () => {
    const raw = openDb();
    raw.prepare("INSERT INTO oauthtoken (id, user_name, client_id, access_token) VALUES ('7', 'ana.lima@example.com', '1000.ANA0CLIENT', '1000.at.ana.dup')").run();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const store = openStore();
      expect((await store.findToken({ userName: "ana.lima@example.com" }))?.id).toBe("1");
      expect(store.migration).toEqual({ nonUniqueKeys: ["identity"] });
      expect((await store.getTokens()).map((t) => t.id)).toEqual(["1", "2", "3", "4", "7"]);
      const saved = await store.saveToken({ userName: "ana.lima@example.com", clientId: "1000.ANA0CLIENT", accessToken: "1000.at.ana.0002" });
      expect(saved.id).toBe("1");
      expect((await store.findTokenById("7"))?.accessToken).toBe("1000.at.ana.dup");
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => (w as { code?: string }).code)).toContain("TOKENSTORE_SQLITE_DUPLICATE_KEYS");
      expect(warnings.map((w) => w.message).join()).not.toContain("ana.lima");
      const indexes = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'oauthtoken'").pluck().all();
      expect(indexes).toContain("oauthtoken_user_client_nonunique");

      // Once the duplicate is merged away, the next open makes the key unique again.
      await store.deleteToken("7");
      expect(migrate(raw)).toEqual({ nonUniqueKeys: [] });
      const after = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'oauthtoken'").pluck().all();
      expect(after).toContain("oauthtoken_user_client");
      expect(after).not.toContain("oauthtoken_user_client_nonunique");
    } finally {
      process.off("warning", onWarning);
    }
  });
});

describe("schema", () => {
  it("every lookup is an index search, never a table scan", async () => {
    const statements: string[] = [];
    const db = openDb(path, { verbose: (sql) => statements.push(String(sql)) });
    const store = openStore({ database: db });
    await store.saveToken({ userName: "u", clientId: "c", accessToken: "a", grantToken: "g", refreshToken: "r" });
    const lookups = [
      () => store.findTokenById("1"),
      () => store.findToken({ userName: "u" }),
      () => store.findToken({ userName: "u", clientId: "c" }),
      () => store.findToken({ accessToken: "a" }),
      () => store.findToken({ clientId: "c", clientSecret: "s", grantToken: "g" }),
      () => store.findToken({ clientId: "c", clientSecret: "s", refreshToken: "r" }),
    ];
    for (const lookup of lookups) {
      statements.length = 0;
      await lookup();
      expect(statements).toHaveLength(1);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${statements[0]}`).all() as { detail: string }[]).map((r) => r.detail).join("; ");
      expect(plan, statements[0]).toMatch(/^SEARCH oauthtoken USING (INDEX|PRIMARY KEY|INDEX sqlite_autoindex)/);
      expect(plan).not.toMatch(/SCAN/);
    }
  });

  it("a database the store creates is 0600 (its WAL files too), in WAL mode, with a parent directory made 0700", async () => {
    path = join(dir, "sub", "tokens.db");
    const store = openStore();
    await store.saveToken({ userName: "u" });
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect((await stat(file)).mode & 0o777, file).toBe(0o600);
    expect((await stat(join(dir, "sub"))).mode & 0o777).toBe(0o700);
    expect(openDb().pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("an app's own Database is used as is and never closed", async () => {
    const db = openDb(":memory:");
    const store = openStore({ database: db, table: "my_tokens" });
    await store.saveToken({ userName: "u", accessToken: "a" });
    await store.close();
    expect(db.open).toBe(true);
    expect(db.prepare("SELECT user_name FROM my_tokens").pluck().all()).toEqual(["u"]);
    expect((await openStore({ database: db, table: "my_tokens" }).findToken({ accessToken: "a" }))?.userName).toBe("u");
  });

  it("several tables in one database keep their tokens and id counters apart", async () => {
    const a = openStore({ table: "tokens_a" });
    const b = openStore({ table: "tokens_b" });
    await a.saveToken({ userName: "u", accessToken: "a" });
    await a.saveToken({ userName: "v" });
    expect((await b.saveToken({ userName: "u", accessToken: "a" })).id).toBe("1");
    await b.deleteTokens();
    expect(await a.getTokens()).toHaveLength(2);
  });

  it("reads expiry_time stored as text, integer or integral real; anything else is CORRUPT_DATA", async () => {
    const db = openDb();
    db.exec(`CREATE TABLE oauthtoken (id TEXT PRIMARY KEY, user_name TEXT, client_id TEXT, client_secret TEXT, refresh_token TEXT,
      access_token TEXT, grant_token TEXT, expiry_time INTEGER, redirect_url TEXT, api_domain TEXT)`);
    const insert = db.prepare("INSERT INTO oauthtoken (id, user_name, expiry_time) VALUES (?, ?, ?)");
    insert.run("1", "int", 1_767_229_200_000);
    insert.run("2", "text", "1767229200001");
    insert.run("3", "real", "1767229200002.0");
    insert.run("4", "empty", "");
    const store = openStore();
    expect((await store.getTokens()).map((t) => [t.userName, t.expiresAt])).toEqual([
      ["int", 1_767_229_200_000],
      ["text", 1_767_229_200_001],
      ["real", 1_767_229_200_002],
      ["empty", null],
    ]);
    insert.run("5", "bad", "tomorrow");
    await expectError(store.findTokenById("5"), "CORRUPT_DATA");
  });

  it("a table that is not Zoho's layout is refused, untouched", async () => {
    const db = openDb();
    db.exec("CREATE TABLE oauthtoken (id TEXT PRIMARY KEY, email TEXT, token TEXT)");
    const error = await expectError(openStore().getTokens(), "BACKEND_ERROR");
    expect(error.message).toContain("Zoho's columns");
    expect(db.prepare("SELECT name FROM pragma_table_info('oauthtoken')").pluck().all()).toEqual(["id", "email", "token"]);
  });

  it("rejects bad options with INVALID_OPTIONS", () => {
    const db = openDb(":memory:");
    const bad = [{}, { path: "" }, { path, database: db }, { database: {} }, { path, table: 'x"; DROP TABLE y; --' }, { path, table: "tokenstore_meta" }, { path, busyTimeoutMs: -1 }];
    for (const options of bad) expect(() => new SqliteTokenStore(options as never), inspect(options)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });
});

describe("failures", () => {
  it("a writer holding the database past the busy timeout gives BACKEND_UNAVAILABLE, then the store recovers", async () => {
    const store = openStore({ busyTimeoutMs: 200 });
    await store.saveToken({ userName: "u" });
    const other = openDb();
    other.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    await expectError(store.saveToken({ userName: "v" }), "BACKEND_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await store.getTokens()).length).toBe(1); // WAL: readers are not blocked
    other.exec("ROLLBACK");
    expect((await store.saveToken({ userName: "v" })).id).toBe("2");
  });

  it("a file that is not a database: CORRUPT_DATA, bytes unchanged", async () => {
    await writeFile(path, "this is not a database, it holds 1000.at.TOP-SECRET ".repeat(100));
    const before = await readFile(path);
    const error = await expectError(openStore().findToken({ userName: "u" }), "CORRUPT_DATA");
    expect(inspect(error)).not.toContain("TOP-SECRET");
    expect(await readFile(path)).toEqual(before);
  });

  it("a path that is a directory: BACKEND_UNAVAILABLE, the directory stays", async () => {
    await mkdir(path);
    await expectError(openStore().saveToken({ userName: "u" }), "BACKEND_UNAVAILABLE");
    expect((await stat(path)).isDirectory()).toBe(true);
  });

  it("CONFLICT errors name the key, never the value", async () => {
    const store = openStore();
    await store.saveToken({ userName: "a", accessToken: "1000.at.TOP-SECRET" });
    await store.saveToken({ userName: "b", clientId: "c", refreshToken: "1000.rt.TOP-SECRET" });
    for (const [token, key] of [
      [{ userName: "b", clientId: "c", accessToken: "1000.at.TOP-SECRET" }, "access token"],
      [{ userName: "a", refreshToken: "1000.rt.TOP-SECRET" }, "refresh token"],
      [{ id: "1", userName: "b", clientId: "c" }, "user name and client id"],
    ] as const) {
      const error = await expectError(store.saveToken(token), "CONFLICT");
      expect(error.message).toContain(key);
      expect(inspect(error, { depth: 10 })).not.toContain("TOP-SECRET");
    }
  });

  it("client id '' and NULL are the same \"no client\" for the user + client key", async () => {
    const store = openStore();
    const a = await store.saveToken({ userName: "u", clientId: "", accessToken: "a1" });
    expect((await store.saveToken({ userName: "u", accessToken: "a2" })).id).toBe(a.id);
    const db = openDb();
    expect(() => db.prepare("INSERT INTO oauthtoken (id, user_name, client_id) VALUES ('9', 'u', NULL)").run()).toThrow(/UNIQUE/);
  });
});

describe("leases across connections", () => {
  it("one holder at a time across two connections; release and expiry are seen by the other", async () => {
    const a = openStore();
    const b = openStore();
    const { id } = await a.saveToken({ userName: "u" });
    expect(await a.acquireLease(id, "holder-a", 10_000)).toBe(true);
    expect(await b.acquireLease(id, "holder-b", 10_000)).toBe(false);
    expect(await b.releaseLease(id, "holder-b")).toBe(false);
    await b.saveToken({ id, accessToken: "refreshed" });
    expect(await b.acquireLease(id, "holder-b", 10_000)).toBe(false);
    expect(await a.releaseLease(id, "holder-a")).toBe(true);
    expect(await b.acquireLease(id, "holder-b", 200)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(await a.acquireLease(id, "holder-a", 10_000)).toBe(true);
    expect(await b.releaseLease(id, "holder-b")).toBe(false);
    await expectError(b.acquireLease("999", "h", 1000), "NOT_FOUND");
  });
});

import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTokenStoreError, TOKEN_FIELDS, type Token, type TokenStore } from "@tokenstore/core";
import { MemoryTokenStore } from "@tokenstore/memory";
import mysql from "mysql2/promise";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readZohoTokenFile } from "../src/formats.js";
import { copyTokens, importZohoFile, importZohoMysqlTable, importZohoSqliteTable, readZohoMysqlTable, readZohoSqliteTable } from "../src/importers.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/zoho/", import.meta.url));
const MYSQL_URL = process.env.TOKENSTORE_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

const plain = (t: Token) => Object.fromEntries(TOKEN_FIELDS.map((f) => [f, t[f]]));
const all = async (store: TokenStore) => (await store.getTokens()).map(plain);

/** The four rows Zoho's DBStore (and the SQLite sample) hold in the fixtures. */
const TABLE_ROWS = [
  { id: "1", userName: "ana.lima@example.com", clientId: "1000.ANA0CLIENT", clientSecret: "secretana0001", refreshToken: "1000.rt.ana.0001", accessToken: "1000.at.ana.0001", grantToken: "1000.gt.ana.0001", expiresAt: 1767229200000, redirectUrl: "https://app.example.com/oauth/callback", apiDomain: "https://www.zohoapis.com" },
  { id: "2", userName: "bo.chen@example.org", clientId: "1000.BO00CLIENT", clientSecret: "secretbo00001", refreshToken: "1000.rt.bo.0001", accessToken: "1000.at.bo.0001", grantToken: null, expiresAt: 1767232800000, redirectUrl: "https://app.example.com/oauth/callback", apiDomain: "https://www.zohoapis.eu" },
  { id: "3", userName: null, clientId: "1000.SRV0CLIENT", clientSecret: "secretsrv0001", refreshToken: "1000.rt.srv.0001", accessToken: "1000.at.srv.0001", grantToken: null, expiresAt: 1767225660000, redirectUrl: null, apiDomain: "https://www.zohoapis.in" },
  { id: "4", userName: null, clientId: null, clientSecret: null, refreshToken: null, accessToken: "1000.at.bare.0001", grantToken: null, expiresAt: null, redirectUrl: null, apiDomain: null },
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zoho-import-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("importZohoFile", () => {
  it("imports the fixture into a store losing nothing, with progress, and finds users by name", async () => {
    const store = new MemoryTokenStore();
    const progress: [number, number][] = [];
    const summary = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store, { onProgress: (done, total) => progress.push([done, total]) });
    expect(summary).toMatchObject({ kind: "file", total: 12, inserted: 12, updated: 0, unchanged: 0, skipped: [], notes: [], warnings: [] });
    expect(progress).toHaveLength(12);
    expect(progress.at(-1)).toEqual([12, 12]);
    const parsed = await readZohoTokenFile(`${FIXTURES}sdk_tokens.txt`);
    expect(await all(store)).toEqual(parsed.records.map((r) => r.token));
    expect((await store.findToken({ userName: "o'neil@example.net" }))?.id).toBe("5");
  });

  it("is idempotent: importing the same file twice leaves the same tokens", async () => {
    const store = new MemoryTokenStore();
    await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    const before = await all(store);
    const again = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 12, skipped: [] });
    expect(await all(store)).toEqual(before);
  });

  it("updates tokens the store already holds, and never clears a stored value", async () => {
    const store = new MemoryTokenStore();
    await store.saveToken({ id: "5", userName: "o'neil@example.net", clientId: "1000.ONE0CLIENT", accessToken: "old", grantToken: "1000.gt.kept" });
    const summary = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    expect(summary).toMatchObject({ inserted: 11, updated: 1 });
    const oneil = await store.findTokenById("5");
    expect(oneil).toMatchObject({ accessToken: "1000.at.oneil.0001", grantToken: "1000.gt.kept", refreshToken: "1000.rt.oneil.0001" });
  });

  it("never overwrites a different token holding a file id: the record gets a new id, and a re-import stays put", async () => {
    const store = new MemoryTokenStore();
    await store.saveToken({ id: "1", userName: "someone.else@example.com", accessToken: "theirs" });
    const summary = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    expect(summary).toMatchObject({ inserted: 12, updated: 0 });
    expect(summary.notes).toEqual([{ line: 2, id: "1", reason: expect.stringMatching(/belongs to a different token.*stored as id "13"/) }]);
    expect((await store.findTokenById("1"))?.userName).toBe("someone.else@example.com");
    expect((await store.findToken({ userName: "ana.lima@example.com" }))?.id).toBe("13");
    const before = await all(store);
    const again = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 12 });
    expect(await all(store)).toEqual(before);
  });

  it("reports records the destination refuses (a key another token holds) with line and id, no secrets, and imports the rest", async () => {
    const store = new MemoryTokenStore();
    await store.saveToken({ id: "100", userName: "other@example.com", clientId: "x", refreshToken: "1000.rt.bo.0001" });
    const summary = await importZohoFile(`${FIXTURES}sdk_tokens.txt`, store);
    expect(summary.inserted).toBe(11);
    expect(summary.skipped).toEqual([{ line: 3, id: "2", reason: expect.stringContaining("CONFLICT") }]);
    expect(JSON.stringify(summary)).not.toMatch(/1000\.rt|secret|1000\.at/);
  });

  it("carries parse issues into the summary", async () => {
    const path = join(dir, "tokens.txt");
    writeFileSync(path, "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain\r\n1,a@example.com,c,s,r,a,,1767225600,,\r\n2,b@example.com,c,s,r2,a2,,later,,\r\n");
    const summary = await importZohoFile(path, new MemoryTokenStore());
    expect(summary).toMatchObject({ total: 2, inserted: 1 });
    expect(summary.skipped).toEqual([{ line: 3, id: "2", reason: expect.stringContaining("expiry_time") }]);
    expect(summary.notes).toEqual([{ line: 2, id: "1", reason: expect.stringContaining("seconds") }]);
  });
});

describe("copyTokens", () => {
  it("copies every token from one store to another, ids and values intact, idempotently", async () => {
    const from = new MemoryTokenStore();
    await importZohoFile(`${FIXTURES}sdk_tokens.txt`, from);
    await from.saveToken({ id: "nodejs_legacy", userName: "legacy@example.com", refreshToken: "rt", clientId: "c", clientSecret: "s" });
    const to = new MemoryTokenStore();
    expect(await copyTokens(from, to)).toMatchObject({ kind: "store", inserted: 13 });
    expect(await all(to)).toEqual(await all(from));
    expect(await copyTokens(from, to)).toMatchObject({ inserted: 0, unchanged: 13 });
  });
});

describe("importZohoSqliteTable", () => {
  it("imports the SQLite sample's zohooauth.db (read-only) into a store, ids and values intact", async () => {
    const path = join(dir, "zohooauth.db");
    copyFileSync(`${FIXTURES}zohooauth.db`, path);
    const digest = () => createHash("sha256").update(readFileSync(path)).digest("hex");
    const before = digest();
    const store = new MemoryTokenStore();
    const summary = await importZohoSqliteTable({ path }, store);
    expect(summary).toMatchObject({ kind: "table", total: 4, inserted: 4, skipped: [], warnings: [] });
    // The sample's row 2 has no redirect URL, unlike the MySQL dump.
    expect(await all(store)).toEqual(TABLE_ROWS.map((r) => (r.id === "2" ? { ...r, redirectUrl: null } : r)));
    expect(digest()).toBe(before);
    expect(await importZohoSqliteTable({ path: `${FIXTURES}zohooauth.db` }, store)).toMatchObject({ unchanged: 4 });
  });

  it("fails clearly for a missing file or table", async () => {
    const error = await readZohoSqliteTable({ path: join(dir, "nope.db") }).catch((e: unknown) => e);
    expect(isTokenStoreError(error, "INVALID_OPTIONS")).toBe(true);
    const noTable = await readZohoSqliteTable({ path: `${FIXTURES}zohooauth.db`, table: "missing" }).catch((e: unknown) => e);
    expect(isTokenStoreError(noTable, "INVALID_OPTIONS")).toBe(true);
    expect((noTable as Error).message).toContain('no table "missing"');
    const badName = await readZohoSqliteTable({ path: `${FIXTURES}zohooauth.db`, table: "x; drop" }).catch((e: unknown) => e);
    expect(isTokenStoreError(badName, "INVALID_OPTIONS")).toBe(true);
  });
});

describe("importZohoMysqlTable", () => {
  let admin: mysql.Connection;
  const table = `zoho_import_${randomBytes(5).toString("hex")}`;
  const dbUrl = new URL(MYSQL_URL);

  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true, connectTimeout: 5000 });
    // Zoho's dump, into a table of our own: the dump names it `oauthtoken`.
    const dump = readFileSync(`${FIXTURES}zoho_dbstore_oauthtoken.sql`, "utf8")
      .split("\n")
      .filter((line) => !line.startsWith("/*M!"))
      .join("\n")
      .replaceAll("`oauthtoken`", `\`${table}\``);
    await admin.query(dump);
  });

  afterAll(async () => {
    await admin?.query(`DROP TABLE IF EXISTS \`${table}\``);
    await admin?.end();
  });

  it("imports Zoho's DBStore table into a store, mapping columns by name, idempotently", async () => {
    const store = new MemoryTokenStore();
    const summary = await importZohoMysqlTable({ url: MYSQL_URL, table }, store);
    expect(summary).toMatchObject({ kind: "table", total: 4, inserted: 4, skipped: [], warnings: [] });
    expect(await all(store)).toEqual(TABLE_ROWS);
    expect(await importZohoMysqlTable({ url: MYSQL_URL, table }, store)).toMatchObject({ inserted: 0, unchanged: 4 });
  });

  it("reads through an app's own client, and by column name whatever the column order", async () => {
    const other = `${table}_reordered`;
    try {
      await admin.query(`CREATE TABLE \`${other}\` (api_domain varchar(255), expiry_time varchar(20), user_name varchar(255), note varchar(20), id varchar(10) NOT NULL PRIMARY KEY, access_token varchar(255))`);
      await admin.query(`INSERT INTO \`${other}\` (id, user_name, access_token, expiry_time, api_domain, note) VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)`, [
        "2", "b@example.com", "at-2", "1767225600000", "https://www.zohoapis.eu", "x",
        "10", "c@example.com", "at-10", "", "", "y",
        "1", "a@example.com", "at-1", "1767225600", null, "z",
      ]);
      const source = await readZohoMysqlTable({ client: admin, table: other });
      expect(source.records.map((r) => [r.line, r.token.id, r.token.userName, r.token.accessToken, r.token.expiresAt, r.token.apiDomain])).toEqual([
        [1, "1", "a@example.com", "at-1", 1767225600000, null],
        [2, "2", "b@example.com", "at-2", 1767225600000, "https://www.zohoapis.eu"],
        [3, "10", "c@example.com", "at-10", null, null],
      ]);
      expect(source.warnings).toEqual([expect.stringContaining('column "note"'), expect.stringContaining("no column for clientId")]);
      expect(source.notes).toEqual([{ line: 1, id: "1", reason: expect.stringContaining("seconds") }]);
    } finally {
      await admin.query(`DROP TABLE IF EXISTS \`${other}\``);
    }
  });

  it("fails clearly for a missing table or database, without the password", async () => {
    const noTable = await readZohoMysqlTable({ url: MYSQL_URL, table: `${table}_missing` }).catch((e: unknown) => e);
    expect(isTokenStoreError(noTable, "INVALID_OPTIONS")).toBe(true);
    const noDb = new URL(MYSQL_URL);
    noDb.pathname = `/zoho_missing_${randomBytes(4).toString("hex")}`;
    const error = await readZohoMysqlTable({ url: noDb.toString(), table }).catch((e: unknown) => e);
    expect(isTokenStoreError(error, "INVALID_OPTIONS")).toBe(true);
    const unreachable = new URL(MYSQL_URL);
    unreachable.port = "1";
    unreachable.password = "hunter2";
    const down = await readZohoMysqlTable({ url: unreachable.toString(), table, connectTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isTokenStoreError(down, "BACKEND_UNAVAILABLE")).toBe(true);
    expect((down as Error).message).not.toContain("hunter2");
    expect(dbUrl.protocol).toBe("mysql:");
  });
});

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { isTokenStoreError, supportsLeases } from "@tokenstore/core";
import { runConformance, type ConformanceTarget as SuiteTarget } from "@tokenstore/conformance";
import { afterAll, describe, expect, it } from "vitest";
import {
  conformanceTarget,
  defaultServerUrls,
  isolatedLocation,
  isStoreUrl,
  openStore,
  parseStoreUrl,
  probeStore,
  redactUrl,
  StoreUrlError,
} from "../src/index.js";
import { loadModule } from "../src/stores.js";

const SERVERS = defaultServerUrls();
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenstore-url-test-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A unique base name per run, so that what is left behind (if anything) can be found. */
const tag = () => `urltest${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const withParam = (url: string, param: string) => `${url}${url.includes("?") ? "&" : "?"}${param}`;

describe("store URLs", () => {
  it("parses every kind, strips our parameters and hides passwords", () => {
    expect(parseStoreUrl("mysql://root:pw@db:3306/app?table=tok&ssl=true")).toEqual({ kind: "mysql", serverUrl: "mysql://root:pw@db:3306/app?ssl=true", table: "tok", display: "mysql://root:***@db:3306/app?table=tok&ssl=true" });
    expect(parseStoreUrl("postgresql://u@h/d?table=t&schema=s")).toMatchObject({ kind: "postgres", serverUrl: "postgresql://u@h/d", table: "t", schema: "s" });
    expect(parseStoreUrl("postgres://u@h/d")).toMatchObject({ kind: "postgres", serverUrl: "postgres://u@h/d" });
    expect(parseStoreUrl("rediss://:pw@h:6380/1?prefix=app:")).toMatchObject({ kind: "redis", serverUrl: "rediss://:pw@h:6380/1", prefix: "app:", display: "rediss://:***@h:6380/1?prefix=app:" });
    expect(parseStoreUrl("mongodb+srv://u:p@cluster/db?collection=c&retryWrites=true")).toMatchObject({ kind: "mongo", serverUrl: "mongodb+srv://u:p@cluster/db?retryWrites=true", collection: "c" });
    expect(parseStoreUrl("mongodb://h/x?database=d")).toMatchObject({ kind: "mongo", serverUrl: "mongodb://h/x", database: "d" });
    expect(parseStoreUrl("sqlite:/tmp/a.db?table=x")).toEqual({ kind: "sqlite", display: "sqlite:/tmp/a.db?table=x", path: "/tmp/a.db", table: "x" });
    expect(parseStoreUrl("file:/tmp/tokens.json")).toMatchObject({ kind: "file", path: "/tmp/tokens.json" });
    expect(parseStoreUrl("file:///tmp/a%20b.json")).toMatchObject({ kind: "file", path: "/tmp/a b.json" });
    expect(parseStoreUrl("file:./tokens.json")).toMatchObject({ kind: "file", path: resolve("tokens.json") });
    expect(parseStoreUrl("file:")).toEqual({ kind: "file", display: "file:" });
    expect(parseStoreUrl("memory:")).toEqual({ kind: "memory", display: "memory:" });
    // A "?" that is not ours is part of the path.
    expect(parseStoreUrl("sqlite:/tmp/a?b.db")).toMatchObject({ path: "/tmp/a?b.db" });
  });

  it("refuses what it cannot use with a StoreUrlError (INVALID_OPTIONS) that hides the password", () => {
    const cases: [string, RegExp][] = [
      ["redis://h?table=x", /"table" is not a parameter of redis: URLs \(allowed: prefix\)/],
      ["mysql://h/db?prefix=x", /"prefix" is not a parameter/],
      ["sqlite:/tmp/x.db?table=t&prefix=p", /unknown parameter/],
      ["memory:x", /takes no path/],
      ["bogus://u:hunter2@h/x", /not a store URL: "bogus:\/\/u:\*\*\*@h\/x"/],
      ["zoho-file:/tmp/x", /not a store URL/],
      ["/tmp/tokens.json", /not a store URL/],
    ];
    for (const [url, message] of cases) {
      let error: unknown;
      try {
        parseStoreUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(StoreUrlError);
      expect(isTokenStoreError(error, "INVALID_OPTIONS"), url).toBe(true);
      expect((error as Error).message, url).toMatch(message);
      expect((error as Error).message).not.toContain("hunter2");
    }
  });

  it("knows its schemes", () => {
    for (const url of ["memory:", "file:x", "SQLITE:x", "mysql://h", "postgresql://h", "rediss://h", "mongodb+srv://h"]) expect(isStoreUrl(url), url).toBe(true);
    for (const url of ["zoho-file:x", "tokens.json", "constructor:x", "http://h", ""]) expect(isStoreUrl(url), url).toBe(false);
  });

  it("redacts passwords, also in URLs it cannot parse", () => {
    expect(redactUrl("postgres://u:secret@h/d")).toBe("postgres://u:***@h/d");
    expect(redactUrl("mysql://root@h/d")).toBe("mysql://root@h/d");
    expect(redactUrl("postgres://u@h/d?password=TopSecret99&table=x")).toBe("postgres://u@h/d?password=***&table=x");
    expect(redactUrl("mongodb://h/d?authMechanismProperties=AWS_SESSION_TOKEN:abc")).not.toContain("abc");
    expect(redactUrl("mysql://u:se cret@h:bad/d")).toBe("mysql://u:***@h:bad/d");
  });

  it("server URLs come from TOKENSTORE_*_URL, else the local defaults", () => {
    expect(defaultServerUrls({})).toEqual([
      { kind: "mysql", label: "MySQL", env: "TOKENSTORE_MYSQL_URL", url: "mysql://root@127.0.0.1:3306/test" },
      { kind: "postgres", label: "PostgreSQL", env: "TOKENSTORE_POSTGRES_URL", url: "postgres://postgres@127.0.0.1:5432/test" },
      { kind: "redis", label: "Redis", env: "TOKENSTORE_REDIS_URL", url: "redis://127.0.0.1:6379/0" },
      { kind: "mongo", label: "MongoDB", env: "TOKENSTORE_MONGO_URL", url: "mongodb://127.0.0.1:27017/tokenstore" },
    ]);
    expect(defaultServerUrls({ TOKENSTORE_REDIS_URL: "redis://elsewhere:1/2", TOKENSTORE_MYSQL_URL: "" }).map((s) => s.url)).toEqual([
      "mysql://root@127.0.0.1:3306/test",
      "postgres://postgres@127.0.0.1:5432/test",
      "redis://elsewhere:1/2",
      "mongodb://127.0.0.1:27017/tokenstore",
    ]);
  });
});

describe("openStore", () => {
  it("opens the store a URL names, with the URL's parameters and the caller's options", async () => {
    const dir = tempDir();
    const store = await openStore(`sqlite:${join(dir, "t.db")}?table=mytokens`);
    try {
      expect(store.constructor.name).toBe("SqliteTokenStore");
      await store.saveToken({ userName: "ana@example.com", refreshToken: "rt" });
    } finally {
      await store.close();
    }
    const Database = (await loadModule("better-sqlite3")).default as new (path: string) => { prepare(sql: string): { all(): unknown[] }; close(): void };
    const db = new Database(join(dir, "t.db"));
    expect(db.prepare("SELECT user_name FROM mytokens").all()).toEqual([{ user_name: "ana@example.com" }]);
    db.close();

    const memory = await openStore("memory:", { operationTimeoutMs: 1000 });
    expect(memory.constructor.name).toBe("MemoryTokenStore");
    await memory.close();
  });

  it("file: and sqlite: need a path", async () => {
    await expect(openStore("file:")).rejects.toThrow(StoreUrlError);
    await expect(openStore("sqlite:")).rejects.toThrow(/sqlite: needs a path/);
  });

  it("a missing adapter or driver gives a clear error", async () => {
    await expect(loadModule("@tokenstore/not-installed")).rejects.toThrow(/cannot load @tokenstore\/not-installed .*is it installed and built\?/);
  });
});

describe("probeStore", () => {
  it("a server that is not there: a short reason, promptly, password hidden", async () => {
    const started = Date.now();
    const reasons = await Promise.all(["mysql://root:hunter2@127.0.0.1:1/test", "postgres://u:hunter2@127.0.0.1:1/test", "redis://:hunter2@127.0.0.1:1/0", "mongodb://u:hunter2@127.0.0.1:1/x"].map((url) => probeStore(url, 1000)));
    for (const reason of reasons) {
      expect(reason).toMatch(/connection refused|no answer within|timed? ?out/i);
      expect(reason).not.toContain("hunter2");
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("embedded stores and the servers here answer", async () => {
    expect(await probeStore("memory:")).toBeNull();
    expect(await probeStore("sqlite:")).toBeNull();
    for (const server of SERVERS.filter((s) => s.kind !== "mongo")) expect(await probeStore(server.url), server.url).toBeNull();
  });
});

// ---------------------------------------------------------------- isolated locations on every store

/** What is left on a server under `base` (tables, routines, keys, collections). */
async function leftovers(url: string, base: string): Promise<unknown[]> {
  const { kind, serverUrl } = parseStoreUrl(url);
  if (kind === "mysql") {
    const mysql = (await import("mysql2/promise")).default;
    const connection = await mysql.createConnection({ uri: serverUrl! });
    try {
      const [tables] = (await connection.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE ?", [`${base}%`])) as unknown as [unknown[]];
      const [routines] = (await connection.query("SELECT routine_name FROM information_schema.routines WHERE routine_name LIKE ?", [`${base}%`])) as unknown as [unknown[]];
      return [...tables, ...routines];
    } finally {
      await connection.end();
    }
  }
  if (kind === "postgres") {
    const pg = (await loadModule("pg")).default as { Client: new (o: object) => { connect(): Promise<void>; query(sql: string, v: unknown[]): Promise<{ rows: unknown[] }>; end(): Promise<void> } };
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      return (await client.query("SELECT relname FROM pg_class WHERE relname LIKE $1 UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE $1", [`${base}%`])).rows;
    } finally {
      await client.end();
    }
  }
  if (kind === "redis") {
    const { Redis } = await import("ioredis");
    const redis = new Redis(serverUrl!);
    try {
      const found: string[] = [];
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `*${base}*`, "COUNT", 1000);
        found.push(...keys);
        cursor = next;
      } while (cursor !== "0");
      return found;
    } finally {
      redis.disconnect();
    }
  }
  const { MongoClient } = await import("mongodb");
  const client = await MongoClient.connect(serverUrl!, { serverSelectionTimeoutMS: 2000 });
  try {
    const db = client.db(parseStoreUrl(url).database);
    const collections = await db.listCollections({ name: { $regex: `^${base}` } }).toArray();
    const counters = await db.collection("tokenstore_counters").find({ _id: { $regex: `^${base}` } } as object).toArray();
    return [...collections, ...counters];
  } finally {
    await client.close();
  }
}

const STORES = [
  { name: "memory", url: "memory:" },
  { name: "file", url: "file:" },
  { name: "sqlite", url: "sqlite:" },
  ...SERVERS.map((s) => ({ name: s.kind, url: s.url, server: s })),
];

for (const { name, url, server } of STORES as { name: string; url: string; server?: (typeof SERVERS)[number] }[]) {
  const problem = await probeStore(url);
  const skip = problem && `no ${server?.label ?? name} at ${redactUrl(url)} (${problem}) — set ${server?.env ?? "nothing"} to run it`;
  if (skip) console.warn(`\n*** SKIPPED: isolated locations on ${name}: ${skip} ***\n`);

  describe.skipIf(Boolean(skip))(`isolated locations on ${name}${skip ? ` (SKIPPED: ${skip})` : ""}`, () => {
    it("are fresh and separate; their URL reopens the same tokens; destroy() leaves nothing behind", async () => {
      const base = tag();
      // The URL's table/prefix/collection (file, sqlite: directory) is the base of the random name.
      const baseUrl = server ? withParam(url, name === "redis" ? `prefix=${base}:` : name === "mongo" ? `collection=${base}` : `table=${base}`) : name === "memory" ? url : `${name}:${tempDir()}`;
      const one = await isolatedLocation(baseUrl);
      const two = await isolatedLocation(baseUrl);
      expect(one.kind).toBe(name);
      if (name !== "memory") expect(one.url).not.toBe(two.url);
      // The location lies inside the place the URL names.
      expect(one.url.startsWith(name === "memory" ? "memory:" : server ? parseStoreUrl(url).serverUrl!.split("?")[0]! : `${baseUrl}/`), one.url).toBe(true);
      const a = await one.open();
      const b = await two.open();
      let reopened: Awaited<ReturnType<typeof openStore>> | undefined;
      try {
        const saved = await a.saveToken({ userName: "ana@example.com", clientId: "c", refreshToken: "rt-one" });
        expect(await a.getTokens()).toHaveLength(1);
        expect(await b.getTokens()).toEqual([]);
        if (name !== "memory") {
          // Another instance, as another process would open it: from the location's URL.
          reopened = await openStore(one.url);
          expect(await reopened.findTokenById(saved.id)).toMatchObject({ refreshToken: "rt-one" });
          if (server) expect(one.url).toContain(base);
        }
        // Leases leave keys or rows too.
        expect(supportsLeases(a) && (await a.acquireLease(saved.id, "me", 10_000))).toBe(true);
      } finally {
        await Promise.all([a.close(), b.close(), reopened?.close()]);
      }
      if (server) expect((await leftovers(url, base)).length).toBeGreaterThan(0); // the check below can see them
      await one.destroy();
      await two.destroy();
      if (server) expect(await leftovers(url, base)).toEqual([]);
      if (name === "file" || name === "sqlite") expect(existsSync(dirname(parseStoreUrl(one.url).path!))).toBe(false);
    });

    it("conformanceTarget runs the suite on fresh locations and removes them", async () => {
      const base = tag();
      const baseUrl = server ? withParam(url, name === "redis" ? `prefix=${base}:` : name === "mongo" ? `collection=${base}` : `table=${base}`) : url;
      const target: SuiteTarget = await conformanceTarget(baseUrl);
      expect(target.name).toBe(name);
      const results = await runConformance(target, { groups: ["contract", "leases"] });
      expect(results.filter((r) => r.status === "fail").map((r) => `${r.test}: ${r.message}`)).toEqual([]);
      expect(results.filter((r) => r.status === "pass").length).toBeGreaterThan(10);
      if (server) expect(await leftovers(url, base)).toEqual([]);
    }, 120_000);
  });
}

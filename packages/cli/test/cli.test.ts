import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main, parseZohoUrl } from "../src/index.js";
import { relativeTime } from "../src/index.js";
import type { Io } from "../src/io.js";

const CLI = fileURLToPath(new URL("..", import.meta.url));
const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const FIXTURES = join(REPO, "fixtures/zoho");
const TOKENS_FILE = join(FIXTURES, "sdk_tokens.txt");
const BIN = join(CLI, "dist/bin.js");

/** Every secret value in the fixture file: none may ever be printed. */
const FIXTURE_SECRETS = readFileSync(TOKENS_FILE, "utf8")
  .split("\n")
  .slice(1)
  .flatMap((line) => line.split(",").slice(3, 7))
  .filter((v) => v !== "");

const run = promisify(execFile);

/** Runs the real bin: exit code, stdout, stderr. */
async function spawnCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: CLI, env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Runs `main` in this process with captured output. */
async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: { ...process.env, ...env }, stderrIsTTY: false };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

beforeAll(() => {
  // The spawned bin runs the built packages: build the ones it needs if they were never built
  // (the root `pnpm test` builds everything first).
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  for (const dir of ["packages/core", "conformance", "packages/memory", "packages/file", "packages/sqlite", "packages/zoho", "packages/url", "packages/cli"]) {
    if (!existsSync(join(REPO, dir, "dist"))) {
      try {
        execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: join(REPO, dir), stdio: "pipe" });
      } catch {
        // tsc still emits with type errors; a missing adapter shows up in the tests.
      }
    }
  }
}, 180_000);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tokenstore-cli-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("the tokenstore bin", () => {
  it("imports the Zoho fixture into sqlite, lists all 12 tokens with secrets redacted and expiry intact; the store finds o'neil", async () => {
    const db = join(dir, "x.db");
    const imported = await spawnCli(["import", TOKENS_FILE, `sqlite:${db}`]);
    expect(imported.stderr).toBe("");
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain("12 read: 12 inserted, 0 updated, 0 unchanged, 0 skipped");

    const listed = await spawnCli(["list", `sqlite:${db}`]);
    expect(listed.code).toBe(0);
    const rows = listed.stdout.split("\n").filter((l) => /^\d+\s{2,}/.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(listed.stdout).toContain("12 tokens.");
    for (const secret of FIXTURE_SECRETS) expect(listed.stdout + listed.stderr).not.toContain(secret);
    // Expiry: ISO, relative and the raw epoch ms, per token.
    expect(rows[0]).toMatch(/2026-01-01T02:00:00\.000Z (in|expired) \S+( ago)? \(1767232800000\)/);
    expect(rows[4]).toContain("o'neil@example.net");
    expect(rows[4]).toContain("(1767227400000)");
    expect(rows[3]).toMatch(/^4\s+-\s+-\s+--A-\s+-/); // the bare access token: only A, no expiry

    const json = await spawnCli(["list", `sqlite:${db}`, "--json"]);
    const tokens = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(tokens).toHaveLength(12);
    expect(tokens[0]).toMatchObject({ id: "1", clientSecret: "[redacted]", refreshToken: "[redacted]", expiresAt: 1767232800000, expiresAtIso: "2026-01-01T02:00:00.000Z" });
    expect(tokens[3]).toMatchObject({ clientSecret: null, accessToken: "[redacted]", expiresAt: null });
    for (const secret of FIXTURE_SECRETS) expect(json.stdout).not.toContain(secret);

    const { createSqliteStore } = (await import("@tokenstore/sqlite")) as { createSqliteStore: (o: { path: string }) => import("@tokenstore/core").TokenStore };
    const store = createSqliteStore({ path: db });
    try {
      const oneil = await store.findToken({ userName: "o'neil@example.net" });
      expect(oneil).toMatchObject({ id: "5", refreshToken: "1000.rt.oneil.0001", expiresAt: 1767227400000, apiDomain: "https://www.zohoapis.com.au" });
    } finally {
      await store.close();
    }
  });

  it("conformance memory: prints the matrix and exits 0", async () => {
    const result = await spawnCli(["conformance", "memory:"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^group\s+memory/m);
    for (const group of ["contract", "round-trip", "matching", "merge", "ids", "durability", "concurrency", "hostile", "closed", "leases", "total"]) {
      expect(result.stdout).toMatch(new RegExp(`^${group}\\s+\\d+ (pass|skip)`, "m"));
    }
    expect(result.stdout).toMatch(/^OK: \d+ passed, 0 failed/m);
  });

  it("a deliberately broken --module store makes conformance exit non-zero, with failure details", async () => {
    const result = await spawnCli(["conformance", "memory:", "--module", "test/fixtures/broken-store.js", "--group", "contract"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^group\s+memory\s+forgetful/m);
    expect(result.stdout).toMatch(/^contract\s+11 pass \S+\s+\d+ pass \d+ FAIL/m);
    expect(result.stdout).toContain("FAILURES");
    expect(result.stdout).toContain("forgetful › contract › deleteToken removes exactly that token");
    expect(result.stdout).toMatch(/^FAILED: /m);
  });

  it("usage errors exit 2, failures exit 1, with `error:` and no stack trace", async () => {
    const usage = await spawnCli(["list"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: list needs one URL/);
    const failure = await spawnCli(["import", join(dir, "missing.txt"), "memory:"]);
    expect(failure.code).toBe(2);
    const bad = await spawnCli(["export", "memory:", `zoho-file:${join(dir, "nodir", "x.txt")}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: /);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("tokenstore (in process)", () => {
  it("--help for every command", async () => {
    for (const command of ["conformance", "import", "export", "list"]) {
      const result = await cli([command, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^tokenstore ${command} `));
    }
    expect((await cli(["--help"])).stdout).toContain("Exit codes: 0 ok, 1 failure, 2 usage error");
    expect((await cli([])).code).toBe(2);
  });

  it("usage errors exit 2", async () => {
    for (const args of [["frobnicate"], ["list", "bogus:x"], ["list", "memory:", "--colour"], ["import", "memory:"], ["export", "memory:", "file:/tmp/x"], ["list", "zoho-x:1"], ["conformance", "memory:", "--group", "nope"], ["list", "sqlite:"]]) {
      const result = await cli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^error: /);
    }
  });

  it("runs a user's --module target (the example custom store) and passes", async () => {
    const result = await cli(["conformance", "--module", join(CLI, "examples/custom-store.js")]);
    expect(result.stdout).toMatch(/^OK: \d+ passed, 0 failed, 0 skipped on 1 backend/m);
    expect(result.code).toBe(0);
  });

  it("--json prints the results as JSON", async () => {
    const result = await cli(["conformance", "memory:", "--group", "closed", "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; backends: { name: string; status: string; totals: { pass: number; fail: number } }[] };
    expect(report.ok).toBe(true);
    expect(report.backends).toMatchObject([{ name: "memory", status: "ran", totals: { pass: 1, fail: 0 } }]);
  });

  it("--debug shows where each conformance failure came from", async () => {
    const plain = await cli(["conformance", "--module", "test/fixtures/broken-store.js", "--group", "contract"]);
    const debug = await cli(["conformance", "--module", "test/fixtures/broken-store.js", "--group", "contract", "--debug"]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).not.toMatch(/^\s+at /m);
    expect(debug.stdout).toMatch(/AssertionError/);
    expect(debug.stdout).toMatch(/^\s+at .*suite\./m);
  });

  it("--debug adds the stack trace", async () => {
    const plain = await cli(["export", "memory:", `zoho-file:${join(dir, "no", "dir.txt")}`]);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await cli(["export", "memory:", `zoho-file:${join(dir, "no", "dir.txt")}`, "--debug"]);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it("a module that does not export a target is an error, loudly", async () => {
    const path = join(dir, "nothing.mjs");
    writeFileSync(path, "export const x = 1;\n");
    const result = await cli(["conformance", "--module", path]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED .*must export/);
  });

  it("with no URL, unreachable servers are SKIPPED with the reason and the variable to set", async () => {
    const down = {
      TOKENSTORE_MYSQL_URL: "mysql://root:hunter2@127.0.0.1:1/test",
      TOKENSTORE_POSTGRES_URL: "postgres://postgres@127.0.0.1:1/test",
      TOKENSTORE_REDIS_URL: "redis://127.0.0.1:1/0",
      TOKENSTORE_MONGO_URL: "mongodb://127.0.0.1:1/tokenstore",
    };
    const started = Date.now();
    const result = await cli(["conformance", "--group", "closed"], down);
    expect(result.stdout).toMatch(/^group\s+memory\s+file\s+sqlite/m);
    expect(result.stdout).toContain("SKIPPED mysql: no MySQL at mysql://root:***@127.0.0.1:1/test — set TOKENSTORE_MYSQL_URL");
    expect(result.stdout).toContain("SKIPPED postgres: no PostgreSQL at postgres://postgres@127.0.0.1:1/test — set TOKENSTORE_POSTGRES_URL");
    expect(result.stdout).toContain("SKIPPED redis: no Redis at redis://127.0.0.1:1/0 — set TOKENSTORE_REDIS_URL");
    expect(result.stdout).toContain("SKIPPED mongo: no MongoDB at mongodb://127.0.0.1:1/tokenstore — set TOKENSTORE_MONGO_URL");
    expect(result.stdout + result.stderr).not.toContain("hunter2");
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  // That the locations are removed afterwards is tested in @tokenstore/url.
  it("runs against the real servers", async () => {
    const tag = `clitest${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const mysqlUrl = process.env.TOKENSTORE_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
    const postgresUrl = process.env.TOKENSTORE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
    const redisUrl = process.env.TOKENSTORE_REDIS_URL ?? "redis://127.0.0.1:6379/0";
    const sep = (url: string) => (url.includes("?") ? "&" : "?");
    const result = await cli([
      "conformance",
      `${mysqlUrl}${sep(mysqlUrl)}table=${tag}`,
      `${postgresUrl}${sep(postgresUrl)}table=${tag}`,
      `${redisUrl}${sep(redisUrl)}prefix=${tag}:`,
      "--group", "contract", "--group", "leases",
    ]);
    expect(result.stdout).toMatch(/^group\s+mysql\s+postgres\s+redis/m);
    expect(result.stdout).toMatch(/^OK: 45 passed, 0 failed/m);
    expect(result.code).toBe(0);
  });

  it("a requested server that does not answer fails the run, password hidden", async () => {
    const result = await cli(["conformance", "mysql://root:hunter2@127.0.0.1:1/test?table=x"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("FAILED  mysql: cannot reach mysql://root:***@127.0.0.1:1/test");
    expect(result.stdout + result.stderr).not.toContain("hunter2");
  });

  it("import is idempotent and reports skipped lines (exit 1 unless --allow-skipped)", async () => {
    const db = join(dir, "t.db");
    expect((await cli(["import", `zoho-file:${TOKENS_FILE}`, `sqlite:${db}`])).code).toBe(0);
    const again = await cli(["import", TOKENS_FILE, `sqlite:${db}`]);
    expect(again.stdout).toContain("12 read: 0 inserted, 0 updated, 12 unchanged, 0 skipped");

    const messy = join(dir, "messy.txt");
    writeFileSync(messy, "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain\r\n1,a@example.com,c,topsecret,r1,a1,,1767225600000,,\r\n2,b@example.com,c,s2,r2\r\n3,c@example.com,c,s3,r3,a3,,tomorrow,,\r\n");
    const result = await cli(["import", messy, "memory:"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("3 read: 1 inserted, 0 updated, 0 unchanged, 2 skipped");
    expect(result.stdout).toContain('line 3 (id "2"): has 5 fields, expected 10');
    expect(result.stdout).toContain('line 4 (id "3"): has an expiry_time that is not a decimal number of milliseconds');
    expect(result.stderr).toContain("2 records were not imported");
    expect(result.stdout + result.stderr).not.toContain("topsecret");
    expect((await cli(["import", messy, "memory:", "--allow-skipped"])).code).toBe(0);
  });

  it("list shows control characters in stored text escaped, never raw to the terminal", async () => {
    const { createFileStore } = await import("@tokenstore/file");
    const path = join(dir, "t.json");
    const store = createFileStore({ path });
    await store.saveToken({ userName: "evil\u001b[2J\nname", accessToken: "a", expiresAt: 8_640_000_000_000_000 });
    await store.close();
    const result = await cli(["list", `file:${path}`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("evil\\x1b[2J\\x0aname");
    expect(result.stdout).not.toContain("\u001b");
    expect(result.stdout).toContain("+275760-09-13T00:00:00.000Z");
  });

  it("shows progress on stderr with --progress (always for large inputs)", async () => {
    const result = await cli(["import", TOKENS_FILE, "memory:", "--progress"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("importing 1/12 (0%)");
    expect(result.stderr).toContain("importing 12/12 (100%)");
    const big = join(dir, "big.txt");
    const rows = Array.from({ length: 1200 }, (_, i) => `${i + 1},u${i}@example.com,c,s,rt${i},at${i},,1767225600000,,`);
    writeFileSync(big, ["id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain", ...rows].join("\n"));
    const large = await cli(["import", big, "memory:"]);
    expect(large.stdout).toContain("1200 read: 1200 inserted");
    expect(large.stderr.split("\n").filter((l) => l.startsWith("importing "))).toHaveLength(11);
  });

  it("imports the SQLite sample and copies store to store", async () => {
    const db = join(dir, "copy.db");
    const fromSample = await cli(["import", `zoho-sqlite:${join(FIXTURES, "zohooauth.db")}`, `sqlite:${db}?table=tokens`]);
    expect(fromSample.stdout).toContain("4 read: 4 inserted");
    const copy = await cli(["import", `sqlite:${db}?table=tokens`, `sqlite:${join(dir, "other.db")}`]);
    expect(copy.code).toBe(0);
    expect(copy.stdout).toContain("4 read: 4 inserted");
    const listed = await cli(["list", `sqlite:${join(dir, "other.db")}`]);
    expect(listed.stdout).toContain("4 tokens.");
  });

  it("exports a Zoho file Zoho's SDK reads; refuses to overwrite without --force; refuses unexportable tokens naming id and field", async () => {
    const out = join(dir, "sdk_tokens.txt");
    const exported = await cli(["export", `zoho-file:${TOKENS_FILE}`, `zoho-file:${out}`]);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain("exported 12 tokens");
    expect(readFileSync(out, "utf8")).toBe(readFileSync(TOKENS_FILE, "utf8").replace("user_mail", "user_name"));
    expect((await cli(["export", `zoho-file:${TOKENS_FILE}`, `zoho-file:${out}`])).code).toBe(1);
    expect((await cli(["export", `zoho-file:${TOKENS_FILE}`, `zoho-file:${out}`, "--force"])).code).toBe(0);

    const db = join(dir, "bad.db");
    const { createSqliteStore } = (await import("@tokenstore/sqlite")) as { createSqliteStore: (o: { path: string }) => import("@tokenstore/core").TokenStore };
    const store = createSqliteStore({ path: db });
    await store.saveToken({ id: "7", userName: "a@example.com", refreshToken: "rt,with,commas", clientId: "c", clientSecret: "s" });
    await store.close();
    const refused = await cli(["export", `sqlite:${db}`, `zoho-file:${join(dir, "refused.txt")}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('token "7" field "refreshToken" contains a comma');
    expect(refused.stderr).toContain("(code INVALID_TOKEN)");
    expect(refused.stderr).not.toContain("rt,with");
    expect(existsSync(join(dir, "refused.txt"))).toBe(false);
  });
});

describe("URLs and formatting", () => {
  // Store URLs are @tokenstore/url's (tested there); Zoho sources are written like them.
  it("parses Zoho sources, hiding passwords", () => {
    expect(parseZohoUrl("zoho-mysql://root:pw@localhost:3306/zohooauth?table=oauthtoken")).toEqual({ kind: "zoho-mysql", url: "mysql://root:pw@localhost:3306/zohooauth", table: "oauthtoken", display: "zoho-mysql://root:***@localhost:3306/zohooauth?table=oauthtoken" });
    expect(parseZohoUrl("zoho-sqlite:/tmp/zohooauth.db?table=t")).toEqual({ kind: "zoho-sqlite", display: "zoho-sqlite:/tmp/zohooauth.db?table=t", path: "/tmp/zohooauth.db", table: "t" });
    expect(parseZohoUrl("zoho-file:/tmp/sdk_tokens.txt")).toEqual({ kind: "zoho-file", display: "zoho-file:/tmp/sdk_tokens.txt", path: "/tmp/sdk_tokens.txt" });
    expect(() => parseZohoUrl("zoho-file:")).toThrow(/zoho-file: needs a path/);
    expect(() => parseZohoUrl("zoho-mysql://h/db?prefix=x")).toThrow(/"prefix" is not a parameter/);
  });

  it("store URL errors and a Zoho source given as a store are usage errors (exit 2)", async () => {
    for (const args of [["list", "redis://h?table=x"], ["import", "memory:", "zoho-file:/tmp/x"], ["conformance", "mysql://h/db?prefix=x"]]) {
      const result = await cli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^error: .*(not a parameter|is a Zoho source)/);
    }
  });

  it("relative times", () => {
    const now = 1_767_225_600_000;
    expect(relativeTime(now + 3 * 3_600_000 + 5000, now)).toBe("in 3h");
    expect(relativeTime(now - 2 * 86_400_000 - 1, now)).toBe("expired 2d ago");
    expect(relativeTime(now + 45_000, now)).toBe("in 45s");
    expect(relativeTime(now - 90_000, now)).toBe("expired 1m ago");
  });
});

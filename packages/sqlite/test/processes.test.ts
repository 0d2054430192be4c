import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqliteStore } from "../src/index.js";
import { buildForChildProcesses, workerPath } from "./build.js";

let dir: string;

beforeAll(async () => {
  buildForChildProcesses();
  dir = await mkdtemp(join(tmpdir(), "tokenstore-sqlite-proc-"));
}, 120_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

function runWorker(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [workerPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

describe("several processes on one database", () => {
  it("4 processes saving at once (new users and one shared user): no 'database is locked', nothing lost", async () => {
    const path = join(dir, "shared.db");
    // All four start on a database that does not exist yet: schema creation races too.
    const results = await Promise.all([0, 1, 2, 3].map((n) => runWorker(["save", path, `proc${n}`, "25"])));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const ids = results.flatMap((r) => JSON.parse(r.stdout) as string[]);
    expect(new Set(ids).size).toBe(100);

    const store = createSqliteStore({ path });
    const all = await store.getTokens();
    expect(all).toHaveLength(101);
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 25; i++) {
        expect((await store.findToken({ userName: `proc${n}-${i}@example.com` }))?.accessToken).toBe(`at-proc${n}-${i}`);
      }
    }
    expect((await store.findToken({ userName: "same@example.com" }))?.accessToken).toMatch(/^at-same-proc\d-\d+$/);
    await store.close();
  }, 60_000);

  it("4 processes racing for one lease: exactly one gets it", async () => {
    const path = join(dir, "lease.db");
    const store = createSqliteStore({ path });
    const { id } = await store.saveToken({ userName: "u" });
    const results = await Promise.all([0, 1, 2, 3].map((n) => runWorker(["lease", path, id, `holder-${n}`])));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(results.map((r) => r.stdout).filter((s) => s === "true")).toHaveLength(1);
    expect(await store.acquireLease(id, "parent", 1000)).toBe(false);
    await store.close();
  }, 60_000);
});

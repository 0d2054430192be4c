import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FILE_FORMAT, createFileStore } from "../src/index.js";
import { buildForChildProcesses, workerPath } from "./build.js";

let dir: string;

beforeAll(async () => {
  buildForChildProcesses();
  dir = await mkdtemp(join(tmpdir(), "tokenstore-file-proc-"));
}, 120_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

function startWorker(args: string[]) {
  const child = spawn(process.execPath, [workerPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

describe("several processes on one file", () => {
  it("4 processes saving 25 different users each at once: every token is there, ids distinct", async () => {
    const path = join(dir, "shared.json");
    const workers = [0, 1, 2, 3].map((n) => startWorker(["save", path, `proc${n}`, "25"]));
    const results = await Promise.all(workers.map((w) => w.exited));
    for (const [n, result] of results.entries()) expect(result, workers[n]!.stderr()).toEqual({ code: 0, signal: null });
    const ids: string[] = workers.flatMap((w) => JSON.parse(w.stdout()) as string[]);
    expect(new Set(ids).size).toBe(100);

    const store = createFileStore({ path });
    const all = await store.getTokens();
    expect(all.map((t) => t.id).sort()).toEqual([...ids].sort());
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 25; i++) {
        expect((await store.findToken({ userName: `proc${n}-${i}@example.com` }))?.accessToken).toBe(`at-proc${n}-${i}`);
      }
    }
    await store.close();
  }, 60_000);

  it("a writer SIGKILLed at random moments always leaves the old or the new file, never a torn one", async () => {
    const path = join(dir, "atomic.json");
    let stored = 0; // the counter in the file after the previous round
    let acknowledged = 0;
    for (let round = 0; round < 6; round++) {
      const worker = startWorker(["loop", path]);
      // Wait until it writes (it may first have to break the stale lock of the previous victim).
      const deadline = Date.now() + 15_000;
      while (!worker.stdout().includes("ok ") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(worker.stdout(), worker.stderr()).toContain("ok ");
      await new Promise((r) => setTimeout(r, Math.random() * 250));
      worker.child.kill("SIGKILL");
      expect((await worker.exited).signal).toBe("SIGKILL");

      const acks = [...worker.stdout().matchAll(/ok (\d+)\n/g)].map((m) => Number(m[1]));
      const lastAck = acks.length ? Math.max(...acks) : stored;
      acknowledged += acks.length;

      const data = JSON.parse(await readFile(path, "utf8")); // throws on a torn file
      expect(data.format).toBe(FILE_FORMAT);
      expect(data.tokens).toHaveLength(1);
      const [token] = data.tokens;
      const i = Number(token.accessToken.slice(3));
      // Every acknowledged save is on disk; at most the one in flight got further.
      expect([lastAck, lastAck + 1]).toContain(i);
      expect(token).toMatchObject({ userName: "atom@example.com", refreshToken: `rt-${i}`, expiresAt: 1_800_000_000_000 + i });
      expect(token.redirectUrl).toBe(`${i}:${"p".repeat(256 * 1024)}`);
      stored = i;
    }
    expect(acknowledged).toBeGreaterThan(6);
  }, 120_000);
});

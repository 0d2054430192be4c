import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Token, TokenStore } from "@tokenstore/core";
import { defaultServerUrls, isolatedLocation, parseStoreUrl, probeStore, redactUrl, type IsolatedLocation } from "@tokenstore/url";
import { AuthServer, BASIC_CLIENT } from "./support/auth-server.js";
import { ensureBuilt, PACKAGES_DIR } from "../../../scripts/ensure-built.js";

// Several OS processes share one store and one expired token; the authorization server rotates
// refresh tokens, so a second refresh would show up as invalid_grant (and revoke the grant).

/** Comma-separated subset of stores to run, e.g. "file,redis". Default all. */
const ONLY = process.env.TOKENSTORE_MANAGER_STORES?.split(",").map((s) => s.trim());

const PROCESSES = 8;
const CALLS = 25;
const ROUNDS = 3;
const LEASE_TTL_MS = 2_000;
const REFRESH_TIMEOUT_MS = 1_500;
const WORKER = fileURLToPath(new URL("./support/worker.mjs", import.meta.url));

const SERVERS = defaultServerUrls();
/** Every store several processes can share: file and SQLite (in temp dirs) and the servers. */
const KINDS = ["file:", "sqlite:", ...SERVERS.map((s) => s.url)].map((url) => ({ kind: parseStoreUrl(url).kind, url }));

/** Null when the store can be tested, else the reason it is skipped. */
async function skipReason(kind: (typeof KINDS)[number]): Promise<string | null> {
  if (ONLY && !ONLY.includes(kind.kind)) return `not in TOKENSTORE_MANAGER_STORES=${ONLY.join(",")}`;
  const problem = await probeStore(kind.url);
  const server = SERVERS.find((s) => s.kind === kind.kind);
  return problem && (server ? `no ${server.label} at ${redactUrl(kind.url)} (${problem}); set ${server.env} to run it` : problem);
}

const reasons = new Map<string, string | null>();
for (const kind of KINDS) {
  const reason = await skipReason(kind);
  reasons.set(kind.kind, reason);
  if (reason) console.warn(`\n[manager] SKIPPING the multi-process test for ${kind.kind}: ${reason}\n`);
}

interface RunResult {
  pid: number;
  ms: number;
  tokens: string[];
  errors: string[];
}

/** One child process and its line protocol. */
class Worker {
  readonly child: ChildProcessWithoutNullStreams;
  stderr = "";
  #waiting: { resolve(value: unknown): void; reject(error: Error): void }[] = [];
  #exited = false;

  constructor(config: Record<string, unknown>) {
    this.child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { cwd: join(PACKAGES_DIR, "manager"), stdio: "pipe" });
    this.child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.child.stdout }).on("line", (line) => this.#waiting.shift()?.resolve(JSON.parse(line)));
    this.child.on("exit", (code, signal) => {
      this.#exited = true;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(new Error(`worker ${this.pid} exited (${signal ?? code}): ${this.stderr.slice(-2000)}`));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next line the worker prints, after sending `command` (if any). */
  next<T>(command?: Record<string, unknown>): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`worker ${this.pid} has exited: ${this.stderr.slice(-2000)}`));
    const answer = new Promise<T>((resolve, reject) => this.#waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
    if (command) this.child.stdin.write(`${JSON.stringify(command)}\n`);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin.end(`${JSON.stringify({ cmd: "exit" })}\n`);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

let server: AuthServer;
const summary: string[] = [];

beforeAll(async () => {
  server = await new AuthServer().start();
  if ([...reasons.values()].some((r) => r === null)) for (const name of ["core", "manager", "url"]) ensureBuilt(name);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (summary.length) console.log(`\n[manager] multi-process results\n${summary.join("\n")}\n`);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of KINDS) {
  describe.skipIf(reasons.get(kind.kind) !== null)(`${kind.kind}: ${PROCESSES} processes × ${CALLS} calls share one token`, () => {
    const name = `mgr_${randomBytes(5).toString("hex")}`;
    let dir = "";
    const userName = `${name}@example.com`;
    const partial = { userName, clientId: BASIC_CLIENT.clientId };
    let location: IsolatedLocation | undefined;
    let store: TokenStore;
    let token: Token;
    let workers: Worker[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "tokenstore-manager-"));
      let started = Date.now();
      ensureBuilt(kind.kind);
      const builtMs = Date.now() - started;
      started = Date.now();
      location = await isolatedLocation(kind.url);
      store = await location.open();
      const refreshToken = await server.mintRefreshToken(BASIC_CLIENT.clientId, userName);
      token = await store.saveToken({ userName, ...BASIC_CLIENT, refreshToken, accessToken: `${name}-initial`, expiresAt: Date.now() - 1000 });
      const config = { storeUrl: location.url, tokenEndpoint: server.tokenEndpoint, leaseTtlMs: LEASE_TTL_MS, refreshTimeoutMs: REFRESH_TIMEOUT_MS };
      workers = Array.from({ length: PROCESSES }, () => new Worker(config));
      await Promise.all(workers.map((w) => w.next()));
      summary.push(`${kind.kind}: ${PROCESSES} workers started in ${Date.now() - started} ms (after ${builtMs} ms checking/building dist)`);
    }, 120_000);

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await store?.close();
      await location?.destroy().catch((error: unknown) => console.warn(`[manager] cleanup of ${kind.kind} failed: ${(error as Error).message}`));
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    /** What the server saw, for failure messages. */
    const seen = () => `server: ${server.tokenRequests} token requests, ${server.refreshCount} refreshes, errors ${JSON.stringify(server.errors.map((e) => e.error))}`;

    async function markExpired(): Promise<Token> {
      const before = (await store.findTokenById(token.id))!;
      await store.saveToken({ id: token.id, expiresAt: Date.now() - 1000 });
      server.reset();
      return before;
    }

    async function expectValidRotated(before: Token, tokens: string[]) {
      const stored = (await store.findTokenById(token.id))!;
      expect(new Set(tokens)).toEqual(new Set([stored.accessToken]));
      expect(stored.accessToken).not.toBe(before.accessToken);
      expect(stored.refreshToken).not.toBe(before.refreshToken);
      expect(await server.isLiveRefreshToken(stored.refreshToken)).toBe(true);
      expect(await server.isLiveAccessToken(stored.accessToken)).toBe(true);
      expect(stored.expiresAt!).toBeGreaterThan(Date.now() + 60_000);
    }

    test(`${ROUNDS} expiries: exactly one refresh each, no invalid_grant, one token for all, the rotated refresh token stored`, async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        const before = await markExpired();
        const started = Date.now();
        const results = await Promise.all(workers.map((w) => w.next<RunResult>({ cmd: "run", calls: CALLS, partial })));
        const ms = Date.now() - started;
        expect(results.flatMap((r) => r.errors).slice(0, 3), seen()).toEqual([]);
        const tokens = results.flatMap((r) => r.tokens);
        expect(tokens).toHaveLength(PROCESSES * CALLS);
        expect(server.errors).toEqual([]);
        expect(server.refreshCount).toBe(1);
        expect(server.tokenRequests).toBe(1);
        await expectValidRotated(before, tokens);
        summary.push(`${kind.kind} round ${round}: ${tokens.length} calls in ${PROCESSES} processes, ${server.refreshCount} refresh, ${server.errors.length} invalid_grant, ${ms} ms`);
      }
    }, 60_000);

    test("the lease holder is killed mid-refresh: another process takes over after the lease expires, still one refresh", async () => {
      const before = await markExpired();
      const marker = join(dir, `holder-${Date.now()}.pid`);
      const started = Date.now();
      const runs = workers.map((w) => w.next<RunResult>({ cmd: "run", calls: CALLS, partial, blockMarker: marker }));
      // The holder writes its pid into the marker, then hangs before sending its request.
      let pid = 0;
      while (!pid) {
        await sleep(5);
        if (existsSync(marker)) pid = Number(readFileSync(marker, "utf8")) || 0;
        if (Date.now() - started > 15_000) throw new Error("no process took the lease");
      }
      const markedAt = statSync(marker).mtimeMs; // when the holder wrote it, not when we noticed
      const victim = workers.find((w) => w.pid === pid);
      expect(victim, "the marker holds one of our workers' pids").toBeDefined();
      victim!.child.kill("SIGKILL");
      const settled = await Promise.allSettled(runs);
      const survivors = settled.filter((s, i) => workers[i] !== victim);
      expect(settled[workers.indexOf(victim!)]!.status).toBe("rejected");
      const results = survivors.map((s) => (s.status === "fulfilled" ? s.value : { pid: 0, ms: 0, tokens: [], errors: [String(s.reason)] }));
      expect(results.flatMap((r) => r.errors).slice(0, 3), seen()).toEqual([]);
      const tokens = results.flatMap((r) => r.tokens);
      expect(tokens).toHaveLength((PROCESSES - 1) * CALLS);
      expect(server.errors).toEqual([]);
      expect(server.refreshCount).toBe(1);
      expect(server.tokenRequests).toBe(1);
      const takeover = server.successes[0]!.at - markedAt;
      // The dead holder's lease was taken just before the marker; nobody refreshed until it expired.
      expect(takeover).toBeGreaterThanOrEqual(LEASE_TTL_MS - 500);
      await expectValidRotated(before, tokens);
      workers = workers.filter((w) => w !== victim);
      summary.push(`${kind.kind} killed holder: ${tokens.length} calls in ${PROCESSES - 1} surviving processes, ${server.refreshCount} refresh, ${server.errors.length} invalid_grant, takeover ${Math.round(takeover)} ms after the holder hung (lease ${LEASE_TTL_MS} ms), ${Date.now() - started} ms total`);
    }, 60_000);
  });
}

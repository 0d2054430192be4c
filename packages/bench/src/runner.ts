import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenStore } from "@tokenstore/core";
import { backends, type Backend, type Floor, type OpenedStore } from "./backends.js";
import { BenchError, describe, isMeasurement, measure, type Measurement, type Result, type Timing } from "./measure.js";
import { NaiveStore, sqliteNaiveDriver, type NaiveDriver, type Subject } from "./naive.js";
import { benchToken, newToken, randomRunId, refreshedToken, type BenchToken } from "./tokens.js";

export const LOOKUPS = ["findToken (user name)", "findToken (access token)", "findToken (refresh token)", "findTokenById"] as const;
export const SAVES = ["saveToken (update)", "saveToken (insert)"] as const;
export const GET_TOKENS = "getTokens";
export const OPERATIONS = [...LOOKUPS, ...SAVES, GET_TOKENS] as const;
export type Operation = (typeof OPERATIONS)[number];
export type Lookup = (typeof LOOKUPS)[number];
export const IN_FLIGHT = [1, 16] as const;

export interface BenchOptions {
  /** Smoke run: tiny sizes and time budgets. */
  quick?: boolean;
  /** Scale run with 1 000 000 tokens instead of 100 000. */
  large?: boolean;
  /** Only these stores (default: all). */
  stores?: string[];
  /** Measure the file store's RSS in a child process (needs the built dist). Default true. */
  rss?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface Sizes {
  /** Tokens in the store the operations run on (the "small" scale). */
  base: number;
  /** Tokens for the scale check. */
  large: number;
  /** Tokens in the store getTokens reads. */
  getTokens: number;
  /** Tokens in the file store whose memory is measured. */
  rss: number;
}

export interface Row {
  operation: Operation | string;
  inFlight: number;
  result: Result;
  /** The floor, measured right before this operation at the same in-flight level (server stores). */
  floor?: Result;
  /** Latency ÷ that floor's latency (lower is better). */
  xFloor?: number;
  /** Saves: the write floor measured right before, and the latency ÷ its latency. */
  writeFloor?: Result;
  xWriteFloor?: number;
  /** Throughput ÷ the naive store's throughput (higher is better). */
  xNaive?: number;
}

export interface ScaleRow {
  operation: Lookup;
  small: Result;
  large: Result;
  /** large ÷ small median latency. */
  ratio?: number;
}

export interface LoadInfo {
  tokens: number;
  seconds: number;
  method: string;
}

export interface ReferenceReport {
  label: string;
  rows: Row[];
  scale: ScaleRow[];
  loads: LoadInfo[];
  error?: string;
}

export interface StoreReport {
  name: string;
  server: boolean;
  available: boolean;
  /** Why the store could not be measured. */
  reason?: string;
  version?: string;
  floor?: { label: string; rows: Row[] };
  writeFloor?: { label: string; rows: Row[] };
  /** Label of the naive reference this store is compared with, or why there is none. */
  naive?: string;
  naiveNote?: string;
  rows: Row[];
  scale: ScaleRow[];
  loads: LoadInfo[];
}

export interface RssReport {
  tokens: number;
  fileBytes: number;
  /** RSS in bytes at each step, and the process's peak RSS. */
  baseline: number;
  afterOpen: number;
  afterGetTokens: number;
  peak: number;
  error?: string;
}

export interface Report {
  mode: "quick" | "default" | "large";
  sizes: Sizes;
  timing: Timing;
  startedAt: string;
  seconds: number;
  stores: StoreReport[];
  naive: Record<string, ReferenceReport>;
  rss?: RssReport;
  loadAverage: { start: number[]; end: number[] };
}

const HOT = 64; // tokens [0, HOT) are the ones updates rewrite; lookups use [HOT, n)
const INSERT_BASE = 20_000_000; // index of the first token an inserting save creates
const LOAD_CONCURRENCY = 32;

export function settings(options: BenchOptions): { sizes: Sizes; timing: Timing; mode: Report["mode"] } {
  if (options.quick) {
    return {
      mode: "quick",
      sizes: { base: 200, large: 2000, getTokens: 100, rss: 2000 },
      timing: { time: 40, iterations: 5, warmupTime: 10, warmupIterations: 2 },
    };
  }
  return {
    mode: options.large ? "large" : "default",
    sizes: { base: 1000, large: options.large ? 1_000_000 : 100_000, getTokens: 100, rss: 100_000 },
    timing: { time: 500, iterations: 10, warmupTime: 100, warmupIterations: 5 },
  };
}

export async function runBenchmarks(options: BenchOptions = {}): Promise<Report> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { sizes, timing, mode } = settings(options);
  const started = Date.now();
  const run = randomRunId();
  const prefix = `tsb_${run}`;
  const dir = mkdtempSync(join(tmpdir(), "tokenstore-bench-"));
  const loadStart = loadAverage();
  const selected = backends({ dir }).filter((b) => !options.stores || options.stores.includes(b.name));
  const ctx: RunContext = { run, prefix, dir, sizes, timing, scaleRounds: options.quick ? 1 : 3, log, naive: {} };
  const stores: StoreReport[] = [];
  let rss: RssReport | undefined;
  // Ctrl-C in a long run: drop what this run created (only its own prefix), then exit.
  const interrupted = () => {
    log(`interrupted: dropping this run's ${prefix}* tables, keys and files`);
    rmSync(dir, { recursive: true, force: true });
    void Promise.allSettled(selected.map((b) => b.cleanup(prefix))).then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    for (const backend of selected) {
      stores.push(await benchStore(backend, ctx));
      if (backend.name === "file" && options.rss !== false && stores.at(-1)?.available) rss = await measureRss(backend, ctx);
    }
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    rmSync(dir, { recursive: true, force: true });
  }
  const naive: Record<string, ReferenceReport> = {};
  for (const [key, value] of Object.entries(ctx.naive)) naive[key] = await value;
  for (const store of stores) applyRatios(store, store.naive ? naive[store.naive] : undefined);
  return {
    mode,
    sizes,
    timing,
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    stores,
    naive,
    ...(rss ? { rss } : {}),
    loadAverage: { start: loadStart, end: loadAverage() },
  };
}

interface RunContext {
  run: string;
  prefix: string;
  dir: string;
  sizes: Sizes;
  timing: Timing;
  /** Alternating small/large rounds of the scale check. */
  scaleRounds: number;
  log: (line: string) => void;
  /** Naive references, measured once per driver and shared (SQLite serves every embedded store). */
  naive: Record<string, Promise<ReferenceReport>>;
}

type Factory = (options: object) => TokenStore;

async function benchStore(backend: Backend, ctx: RunContext): Promise<StoreReport> {
  const report: StoreReport = { name: backend.name, server: backend.server, available: false, rows: [], scale: [], loads: [] };
  let mod: Record<string, unknown>;
  try {
    mod = (await import(backend.module)) as Record<string, unknown>;
    if (typeof mod[backend.factory] !== "function") throw new BenchError(`${backend.module} does not export ${backend.factory}()`);
  } catch (error) {
    const notBuilt = (error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND" ? " (not written or not built yet?)" : "";
    return unavailable(report, `cannot import ${backend.module}: ${describe(error)}${notBuilt}`, ctx);
  }
  let floor: Floor | undefined;
  let writeFloor: Floor | undefined;
  try {
    floor = await backend.floor?.();
    report.version = await backend.version();
    writeFloor = await backend.writeFloor?.(`${ctx.prefix}_wfloor`);
  } catch (error) {
    await floor?.close().catch(() => {});
    await writeFloor?.close().catch(() => {});
    await backend.cleanup(ctx.prefix).catch(() => {});
    return unavailable(report, `server not reachable: ${describe(error)}`, ctx);
  }
  ctx.log(`[${backend.name}] ${report.version}`);
  const naiveDriver = backend.naive?.() ?? (backend.server ? undefined : sqliteNaiveDriver(join(ctx.dir, "naive-sqlite.db")));
  if (naiveDriver) {
    report.naive = naiveDriver.label;
    ctx.naive[naiveDriver.label] ??= benchNaive(naiveDriver, ctx);
    // Measure the reference next to the store it is compared with (same machine load).
    await ctx.naive[naiveDriver.label];
  } else {
    report.naiveNote = backend.naiveNote;
  }
  const opened: OpenedStore[] = [];
  const open = async (slot: string, tokens: number): Promise<{ store: TokenStore; path?: string }> => {
    const name = `${ctx.prefix}_${slot}`;
    const { store, path, load } = await openLoaded(backend, mod, name, ctx.run, tokens, opened);
    report.loads.push(load);
    ctx.log(`[${backend.name}] ${slot}: ${tokens} tokens loaded in ${load.seconds.toFixed(1)} s (${load.method})`);
    return { store, ...(path ? { path } : {}) };
  };
  try {
    report.available = true;
    if (floor) {
      report.floor = { label: floor.label, rows: [] };
      for (const inFlight of IN_FLIGHT) {
        report.floor.rows.push({ operation: floor.label, inFlight, result: await measure("floor", floor.op, inFlight, ctx.timing) });
      }
    }
    if (writeFloor) {
      report.writeFloor = { label: writeFloor.label, rows: [] };
      for (const inFlight of IN_FLIGHT) {
        report.writeFloor.rows.push({ operation: `${writeFloor.label} (write floor)`, inFlight, result: await measure("write floor", writeFloor.op, inFlight, ctx.timing) });
      }
    }
    const base = await open("base", ctx.sizes.base);
    report.rows.push(...(await measureOperations(base.store, ctx, ctx.sizes.base, floor, writeFloor)));
    const small = await open("get", ctx.sizes.getTokens);
    report.rows.push(...(await measureGetTokens(small.store, ctx, floor)));
    // A fresh small store: the base store has grown by the inserting saves.
    const scaleSmall = await open("small", ctx.sizes.base);
    const large = await open("large", ctx.sizes.large);
    report.scale = await measureScale(scaleSmall.store, large.store, ctx);
    ctx.log(`[${backend.name}] done`);
  } catch (error) {
    report.reason = `benchmark failed: ${describe(error)}`;
    ctx.log(`[${backend.name}] FAILED: ${report.reason}`);
  } finally {
    for (const { store, release } of opened) {
      await store.close().catch(() => {});
      await release?.().catch(() => {});
    }
    await floor?.close().catch(() => {});
    await writeFloor?.close().catch(() => {});
    await backend.cleanup(ctx.prefix).catch((error) => ctx.log(`[${backend.name}] cleanup failed: ${describe(error)}`));
  }
  return report;
}

function unavailable(report: StoreReport, reason: string, ctx: RunContext): StoreReport {
  ctx.log(`[${report.name}] NOT AVAILABLE: ${reason}`);
  return { ...report, available: false, reason };
}

/** Opens a store and fills it with `count` tokens (ids 1..count). */
async function openLoaded(backend: Backend, mod: Record<string, unknown>, name: string, run: string, count: number, opened: OpenedStore[]) {
  const factory = mod[backend.factory] as Factory;
  const tokens = Array.from({ length: count }, (_, i) => benchToken(run, i));
  const started = Date.now();
  let prefillFailed = false;
  if (backend.prefill && (await backend.prefill(mod, name, tokens))) {
    const prefilled = await backend.open(factory, name);
    opened.push(prefilled);
    const last = tokens.at(-1);
    const found = last ? await prefilled.store.findTokenById(last.id).catch(() => null) : null;
    if (!last || (found as { userName?: string } | null)?.userName === last.userName) {
      return { ...prefilled, load: { tokens: count, seconds: (Date.now() - started) / 1000, method: "file written directly in the store's format" } };
    }
    // Not a format this store reads: start again empty and load through saveToken.
    await prefilled.store.close();
    if (prefilled.path) rmSync(prefilled.path, { force: true });
    prefillFailed = true;
  }
  let loaderNote = "";
  if (backend.openLoader && tokens.length > 0) {
    const loader = await backend.openLoader(factory, name);
    try {
      await saveAll(loader.store, tokens);
    } finally {
      await loader.store.close();
      await loader.release?.();
    }
    loaderNote = backend.loaderNote ? `, ${backend.loaderNote}` : "";
  }
  const fresh = await backend.open(factory, name);
  opened.push(fresh);
  if (!backend.openLoader) await saveAll(fresh.store, tokens);
  const method = `saveToken, ${LOAD_CONCURRENCY} in flight${loaderNote}${prefillFailed ? " (the store did not read the prefilled file)" : ""}`;
  return { ...fresh, load: { tokens: count, seconds: (Date.now() - started) / 1000, method } };
}

/** Loads tokens through the store's own saveToken, `LOAD_CONCURRENCY` at a time. */
async function saveAll(store: Pick<TokenStore, "saveToken">, tokens: readonly BenchToken[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) await store.saveToken(tokens[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, tokens.length) }, worker));
}

/**
 * The lookups and saves on a store of `count` tokens, at each in-flight level. With a floor,
 * each measurement is preceded by one of the floor, so their ratio compares like with like
 * even when the machine's load changes during the run.
 */
async function measureOperations(subject: Subject, ctx: RunContext, count: number, floor?: Floor, writeFloor?: Floor): Promise<Row[]> {
  const rows: Row[] = [];
  const ops = operations(subject, ctx.run, count);
  for (const operation of LOOKUPS) {
    for (const inFlight of IN_FLIGHT) rows.push(await measureRow(operation, ops[operation], inFlight, ctx, floor));
  }
  for (const operation of SAVES) {
    for (const inFlight of IN_FLIGHT) rows.push(await measureRow(operation, ops[operation], inFlight, ctx, floor, writeFloor));
  }
  return rows;
}

async function measureRow(operation: Operation, op: () => Promise<unknown>, inFlight: number, ctx: RunContext, floor?: Floor, writeFloor?: Floor): Promise<Row> {
  const floorResult = floor ? await measure("floor", floor.op, inFlight, ctx.timing) : undefined;
  const writeResult = writeFloor ? await measure("write floor", writeFloor.op, inFlight, ctx.timing) : undefined;
  return {
    operation,
    inFlight,
    result: await measure(operation, op, inFlight, ctx.timing),
    ...(floorResult ? { floor: floorResult } : {}),
    ...(writeResult ? { writeFloor: writeResult } : {}),
  };
}

async function measureGetTokens(subject: Subject, ctx: RunContext, floor?: Floor): Promise<Row[]> {
  const expected = ctx.sizes.getTokens;
  const op = async () => {
    const tokens = await subject.getTokens();
    if (tokens.length !== expected) throw new BenchError(`getTokens returned ${tokens.length} tokens, expected ${expected}`);
  };
  const rows: Row[] = [];
  for (const inFlight of IN_FLIGHT) rows.push(await measureRow(GET_TOKENS, op, inFlight, ctx, floor));
  return rows;
}

/**
 * The lookups on a store of `sizes.base` tokens and on one of `sizes.large`, measured
 * alternately (small, large, small, large, …) for `scaleRounds` rounds; each side keeps the
 * round with the median latency. Alternating spreads the machine's load changes over both sides.
 */
async function measureScale(small: Subject, large: Subject, ctx: RunContext): Promise<ScaleRow[]> {
  const smallOps = operations(small, ctx.run, ctx.sizes.base);
  const largeOps = operations(large, ctx.run, ctx.sizes.large);
  const rows: ScaleRow[] = [];
  for (const operation of LOOKUPS) {
    const smalls: Result[] = [];
    const larges: Result[] = [];
    for (let round = 0; round < ctx.scaleRounds; round++) {
      smalls.push(await measure(operation, smallOps[operation], 1, ctx.timing));
      larges.push(await measure(operation, largeOps[operation], 1, ctx.timing));
    }
    const s = medianResult(smalls);
    const l = medianResult(larges);
    rows.push({ operation, small: s, large: l, ...(isMeasurement(s) && isMeasurement(l) ? { ratio: l.medianUs / s.medianUs } : {}) });
  }
  return rows;
}

/** The first error, or the measurement with the median latency. */
function medianResult(results: Result[]): Result {
  const failed = results.find((r) => !isMeasurement(r));
  if (failed) return failed;
  const sorted = (results as Measurement[]).slice().sort((a, b) => a.medianUs - b.medianUs);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One closure per operation; each call uses the next key (random among the loaded tokens). */
function operations(subject: Subject, run: string, count: number): Record<Lookup | (typeof SAVES)[number], () => Promise<unknown>> {
  const pick = () => benchToken(run, HOT + Math.floor(Math.random() * (count - HOT)));
  const found = (what: string) => (token: object | null) => {
    if (!token) throw new BenchError(`${what} found nothing for a stored token`);
  };
  let updates = 0;
  let inserts = 0;
  return {
    "findToken (user name)": () => {
      const t = pick();
      return subject.findToken({ userName: t.userName, clientId: t.clientId }).then(found("findToken (user name)"));
    },
    "findToken (access token)": () => subject.findToken({ accessToken: pick().accessToken }).then(found("findToken (access token)")),
    "findToken (refresh token)": () => {
      const t = pick();
      return subject.findToken({ clientId: t.clientId, clientSecret: t.clientSecret, refreshToken: t.refreshToken }).then(found("findToken (refresh token)"));
    },
    findTokenById: () => subject.findTokenById(pick().id).then(found("findTokenById")),
    "saveToken (update)": () => {
      updates++;
      return subject.saveToken(refreshedToken(run, updates % HOT, updates));
    },
    "saveToken (insert)": () => subject.saveToken(newToken(run, INSERT_BASE + inserts++)),
  };
}

/** Measures a naive store the same way: operations, getTokens, scale. */
async function benchNaive(driver: NaiveDriver, ctx: RunContext): Promise<ReferenceReport> {
  const report: ReferenceReport = { label: driver.label, rows: [], scale: [], loads: [] };
  const stores: NaiveStore[] = [];
  const open = async (slot: string, count: number) => {
    const store = new NaiveStore(driver, `${ctx.prefix}_naive_${slot}`);
    stores.push(store);
    await store.create();
    const started = Date.now();
    await store.load(Array.from({ length: count }, (_, i) => benchToken(ctx.run, i)));
    report.loads.push({ tokens: count, seconds: (Date.now() - started) / 1000, method: "driver batch insert (setup only)" });
    return store;
  };
  ctx.log(`[${driver.label}] measuring`);
  try {
    const base = await open("base", ctx.sizes.base);
    report.rows.push(...(await measureOperations(base, ctx, ctx.sizes.base)));
    report.rows.push(...(await measureGetTokens(await open("get", ctx.sizes.getTokens), ctx)));
    report.scale = await measureScale(await open("small", ctx.sizes.base), await open("large", ctx.sizes.large), ctx);
  } catch (error) {
    report.error = describe(error);
    ctx.log(`[${driver.label}] FAILED: ${report.error}`);
  } finally {
    for (const store of stores) await store.drop().catch(() => {});
  }
  return report;
}

function applyRatios(store: StoreReport, naive: ReferenceReport | undefined): void {
  for (const row of store.rows) {
    const floor = row.floor ?? store.floor?.rows.find((r) => r.inFlight === row.inFlight)?.result;
    const ref = naive?.rows.find((r) => r.operation === row.operation && r.inFlight === row.inFlight)?.result;
    if (isMeasurement(row.result) && isMeasurement(floor)) row.xFloor = row.result.medianUs / floor.medianUs;
    if (isMeasurement(row.result) && isMeasurement(row.writeFloor)) row.xWriteFloor = row.result.medianUs / row.writeFloor.medianUs;
    if (isMeasurement(row.result) && isMeasurement(ref)) row.xNaive = row.result.opsPerSec / ref.opsPerSec;
  }
  // The naive rows get their ratio to the floor measured at the start of the store's run.
  if (naive && store.floor) {
    for (const row of naive.rows) {
      const floor = store.floor.rows.find((r) => r.inFlight === row.inFlight)?.result;
      if (isMeasurement(row.result) && isMeasurement(floor)) row.xFloor = row.result.medianUs / floor.medianUs;
    }
  }
}

/** Peak memory of the file store holding `sizes.rss` tokens, in a child process. */
async function measureRss(backend: Backend, ctx: RunContext): Promise<RssReport> {
  const tokens = ctx.sizes.rss;
  const empty: RssReport = { tokens, fileBytes: 0, baseline: 0, afterOpen: 0, afterGetTokens: 0, peak: 0 };
  const probe = new URL("./rss-probe.js", import.meta.url);
  const name = `${ctx.prefix}_rss`;
  try {
    const mod = (await import(backend.module)) as Record<string, unknown>;
    const opened: OpenedStore[] = [];
    const { path } = await openLoaded(backend, mod, name, ctx.run, tokens, opened);
    for (const o of opened) await o.store.close();
    if (!path) throw new BenchError("the file store has no path");
    ctx.log(`[file] measuring RSS with ${tokens} tokens in a child process`);
    const child = spawnSync(process.execPath, [probe.pathname, path, String(tokens)], { encoding: "utf8", timeout: 600_000 });
    const line = child.stdout.trim().split("\n").at(-1) ?? "";
    if (child.status !== 0 || !line.startsWith("{")) throw new BenchError(`probe failed (exit ${child.status}): ${child.stderr.slice(0, 300)}`);
    return { ...empty, fileBytes: statSync(path).size, ...(JSON.parse(line) as Omit<RssReport, "tokens" | "fileBytes">) };
  } catch (error) {
    return { ...empty, error: describe(error) };
  }
}

function loadAverage(): number[] {
  return loadavg().map((n) => Math.round(n * 100) / 100);
}

import { readFileSync } from "node:fs";
import { cpus, release, totalmem, type } from "node:os";
import { isMeasurement, type Result } from "./measure.js";
import { LOOKUPS, SAVES, type Report, type Row, type ScaleRow, type StoreReport } from "./runner.js";

export const LIMITS = { findXFloor: 1.3, saveXFloor: 1.6, xNaive: 10, scale: 1.2 } as const;

export interface TargetCheck {
  kind: "floor" | "naive" | "scale";
  target: string;
  store: string;
  operation: string;
  inFlight: number;
  /** The measured ratio, when there is one. */
  value?: number;
  status: "PASS" | "MISS" | "n/a";
  /** For a MISS: by how much; for n/a: why. */
  note: string;
  /** For a MISS with a value: "61% over" / "17% short". */
  by?: string;
}

/** Every target of the brief, checked against the report. */
export function checkTargets(report: Report): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const store of report.stores.filter((s) => s.available)) {
    for (const row of store.rows) {
      const isLookup = (LOOKUPS as readonly string[]).includes(row.operation);
      const isSave = (SAVES as readonly string[]).includes(row.operation);
      if (!isLookup && !isSave) continue;
      if (store.server) {
        const limit = isLookup ? LIMITS.findXFloor : LIMITS.saveXFloor;
        checks.push(atMost("floor", `${isLookup ? "find" : "save"} ≤ ${limit}× floor`, store, row, row.xFloor, limit, "× floor", store.floor ? undefined : "no floor"));
      }
      const naive = store.naive ? report.naive[store.naive] : undefined;
      const why = !store.naive ? store.naiveNote ?? "no naive reference" : naiveProblem(row, naive?.rows.find((r) => r.operation === row.operation && r.inFlight === row.inFlight)?.result, naive?.error);
      checks.push(atLeast("naive", `${isLookup ? "find" : "save"} ≥ ${LIMITS.xNaive}× naive throughput`, store, row, row.xNaive, LIMITS.xNaive, why));
    }
    const sizeNote = report.sizes.large < 1_000_000 ? ` (target is at 1 000 000; this run: ${fmtInt(report.sizes.large)}, use --large)` : "";
    for (const row of store.scale) {
      const target = `${fmtInt(report.sizes.large)} vs ${fmtInt(report.sizes.base)} tokens ≤ ${LIMITS.scale}×`;
      const check = atMost("scale", target, store, { operation: row.operation, inFlight: 1, result: row.large }, row.ratio, LIMITS.scale, "× at small", isMeasurement(row.small) ? undefined : "small-store lookup failed");
      checks.push({ ...check, note: check.note + (check.status === "n/a" ? "" : sizeNote) });
    }
  }
  return checks;
}

function naiveProblem(row: Row, result: Result | undefined, error: string | undefined): string | undefined {
  if (error) return `naive reference failed: ${error}`;
  if (!result) return "naive reference not measured";
  if (isMeasurement(result)) return undefined;
  const race = row.operation === "saveToken (insert)" && row.inFlight > 1 ? " — concurrent inserts took the same max(id)+1, Zoho's id race (notes §3 S7)" : "";
  return `${row.operation} × ${row.inFlight} on the naive reference failed: ${result.error}${race}`;
}

function atMost(kind: TargetCheck["kind"], target: string, store: StoreReport, row: Row, value: number | undefined, limit: number, unit: string, missingWhy?: string): TargetCheck {
  const base = { kind, target, store: store.name, operation: row.operation, inFlight: row.inFlight };
  if (!isMeasurement(row.result)) return { ...base, status: "MISS", note: `error: ${row.result.error}` };
  if (value === undefined) return { ...base, status: "n/a", note: missingWhy ?? "no reference" };
  const pass = value <= limit;
  if (pass) return { ...base, value, status: "PASS", note: `${fmtRatio(value)}${unit}` };
  const by = `${pct(value / limit - 1)} over`;
  return { ...base, value, status: "MISS", by, note: `${fmtRatio(value)}${unit}: ${by} the limit` };
}

function atLeast(kind: TargetCheck["kind"], target: string, store: StoreReport, row: Row, value: number | undefined, limit: number, missingWhy?: string): TargetCheck {
  const base = { kind, target, store: store.name, operation: row.operation, inFlight: row.inFlight };
  if (!isMeasurement(row.result)) return { ...base, status: "MISS", note: `error: ${row.result.error}` };
  if (value === undefined || missingWhy) return { ...base, status: "n/a", note: missingWhy ?? "no reference" };
  const pass = value >= limit;
  if (pass) return { ...base, value, status: "PASS", note: `${fmtRatio(value)}× naive` };
  const by = `${pct(1 - value / limit)} short`;
  return { ...base, value, status: "MISS", by, note: `${fmtRatio(value)}× naive: ${by} of ${limit}×` };
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  return { cpu, cores: cpus().length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, os: `${type()} ${release()}`, node: process.version };
}

export const ANALYSIS_START = "<!-- analysis:start (hand-written, kept when the report is regenerated) -->";
export const ANALYSIS_END = "<!-- analysis:end -->";

/** The hand-written analysis block of an earlier report, markers included, if it has one. */
export function keptAnalysis(previous: string): string | undefined {
  const start = previous.indexOf(ANALYSIS_START);
  const end = previous.indexOf(ANALYSIS_END, start);
  return start >= 0 && end > start ? previous.slice(start, end + ANALYSIS_END.length) : undefined;
}

/**
 * The whole report as markdown: what docs/benchmarks.md holds and `pnpm bench` prints.
 * `analysis` is the hand-written block (why targets are missed, what would close them) carried
 * over from the previous report.
 */
export function renderMarkdown(report: Report, options: { command: string; machine?: Machine; analysis?: string }): string {
  const m = options.machine ?? machine();
  const checks = checkTargets(report);
  const out: string[] = [];
  out.push("# TokenStore benchmarks", "");
  out.push(`Run ${report.startedAt} (mode **${report.mode}**, ${Math.round(report.seconds)} s). Reproduce from the repository root with:`, "");
  out.push("```sh", options.command, "```", "");
  out.push("## Machine", "");
  out.push(`- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}`);
  out.push(`- Load average (1, 5, 15 min) at start ${report.loadAverage.start.join(", ")}, at end ${report.loadAverage.end.join(", ")}. A load near or above the core count means other work shared the CPU: treat the numbers as noisy.`);
  for (const s of report.stores) out.push(`- ${s.name}: ${s.available || s.version ? s.version ?? "" : `**not available** (${s.reason})`}`);
  out.push(
    `- Sizes: operations on a store of ${fmtInt(report.sizes.base)} tokens; getTokens on ${fmtInt(report.sizes.getTokens)}; scale check at ${fmtInt(report.sizes.large)}; memory with ${fmtInt(report.sizes.rss)}.`,
    `- tinybench per task: ${report.timing.time} ms and at least ${report.timing.iterations} calls, after ${report.timing.warmupTime} ms / ${report.timing.warmupIterations} calls of warm-up.`,
    "",
  );
  const missing = report.stores.filter((s) => !s.available || s.reason);
  if (missing.length > 0) {
    out.push("> **NOT MEASURED**", ">");
    for (const s of missing) out.push(`> - **${s.name}**: ${s.reason}`);
    out.push("");
  }
  out.push("## Targets", "");
  out.push(...targetTable(checks, report));
  out.push("## Analysis", "");
  out.push(options.analysis ?? `${ANALYSIS_START}\n_Why each missed target is missed and what would close it: written by hand here; \`pnpm bench\` keeps this block when it rewrites the file._\n${ANALYSIS_END}`, "");
  out.push("## How to read the tables", "");
  out.push(
    "- **median µs**: median latency of one operation. With 16 in flight a sample is 16 concurrent operations; the table shows that sample's time ÷ 16.",
    "- **ops/s**: operations per second at the median (in flight ÷ median sample time).",
    "- **× floor**: the operation's latency ÷ the cheapest round trip to the same server with the same driver at the same in-flight level (`SELECT 1`, `PING`), measured right before the operation (**floor µs**). 1.0 = as cheap as an empty query; lower is better. The first rows of a server store's table are the floor measured on its own at the start. Embedded stores have no floor.",
    "- **× write floor** (saves, diagnostic): the save's latency ÷ the cheapest durable write on the same server (a one-row autocommit UPDATE, a Redis SET), measured right before it (**write floor µs**). A save that commits cannot beat one commit; near 1.0 means the save costs one commit, and the gap to the `SELECT 1` floor is the server's commit (log flush), not the store.",
    "- **large ÷ small**: a lookup's median latency on a store of the large size ÷ on one of the small size, measured alternately in 3 rounds (median round each).",
    "- **× naive**: the operation's throughput ÷ the throughput of the same operation on the naive, Zoho-style store (a new connection per call, SQL by concatenation, no index but the primary key). Higher is better. Embedded stores are compared with the naive SQLite sample.",
    "",
  );
  for (const store of report.stores) {
    out.push(`## ${store.name}`, "");
    if (!store.available) {
      out.push(`**Not available**: ${store.reason}`, "");
      continue;
    }
    if (store.reason) out.push(`**Incomplete**: ${store.reason}`, "");
    out.push(`${store.version}. Floor: ${store.floor?.label ?? "none (embedded)"}.${store.writeFloor ? ` Write floor (diagnostic, for saves): ${store.writeFloor.label}.` : ""} Naive reference: ${store.naive ?? store.naiveNote?.replace(/\.$/, "") ?? "none"}.`, "");
    out.push(...table([...(store.floor?.rows ?? []), ...(store.writeFloor?.rows ?? []), ...store.rows]));
    out.push(...scaleTable(store.scale, report));
    if (store.loads.length > 0) out.push(`Setup: ${store.loads.map((l) => `${fmtInt(l.tokens)} tokens in ${l.seconds.toFixed(1)} s (${l.method})`).join("; ")}.`, "");
  }
  out.push("## Naive references", "");
  out.push(
    "How Zoho's DBStore and its Kaizen SQLite sample work, reimplemented in `packages/bench/src/naive.ts`: a new connection per call (two for an inserting save), values concatenated into the SQL (only the bench's fixed safe values), no index but the primary key, `update … limit 1` then `select max(id)` and insert for a save. Deviations in the naive store's favour: `id` is a BIGINT so `max(id)` is numeric (Zoho's textual max repeats ids); Postgres gets no `limit` on the update (it rejects one). Concurrent inserting saves race on `max(id)` exactly as Zoho's do; such a row shows the error. Redis and MongoDB have no Zoho store or sample.",
    "",
  );
  for (const ref of Object.values(report.naive)) {
    out.push(`### ${ref.label}`, "");
    if (ref.error) out.push(`**Failed**: ${ref.error}`, "");
    out.push(...table(ref.rows, false));
    out.push(...scaleTable(ref.scale, report));
    if (ref.loads.length > 0) out.push(`Setup: ${ref.loads.map((l) => `${fmtInt(l.tokens)} rows in ${l.seconds.toFixed(1)} s`).join("; ")} (driver batch insert).`, "");
  }
  out.push("## Memory of the file store", "");
  if (!report.rss) out.push("Not measured in this run (the file store was not measured, or `--no-rss`).", "");
  else if (report.rss.error) out.push(`**Failed**: ${report.rss.error}`, "");
  else {
    const r = report.rss;
    out.push(
      `A child process opens the file store on a file of ${fmtInt(r.tokens)} tokens (${fmtMiB(r.fileBytes)} on disk), then calls getTokens.`,
      "",
      "| step | RSS |",
      "|---|---:|",
      `| after importing the store (baseline) | ${fmtMiB(r.baseline)} |`,
      `| after the first operation (file read) | ${fmtMiB(r.afterOpen)} (+${fmtMiB(r.afterOpen - r.baseline)}) |`,
      `| after getTokens | ${fmtMiB(r.afterGetTokens)} (+${fmtMiB(r.afterGetTokens - r.afterOpen)}) |`,
      `| peak (maxRSS) | ${fmtMiB(r.peak)} |`,
      "",
    );
  }
  return out.join("\n");
}

/** One row per store and operation; a cell per target: PASS/MISS with the measured ratio. */
function targetTable(checks: TargetCheck[], report: Report): string[] {
  const count = (s: TargetCheck["status"]) => checks.filter((c) => c.status === s).length;
  const out = [
    `**${count("PASS")} PASS, ${count("MISS")} MISS**, ${count("n/a")} n/a. Limits: findToken/findTokenById ≤ ${LIMITS.findXFloor}× floor and saveToken ≤ ${LIMITS.saveXFloor}× floor (server stores); ≥ ${LIMITS.xNaive}× the naive store's throughput; a lookup at ${fmtInt(report.sizes.large)} tokens ≤ ${LIMITS.scale}× its cost at ${fmtInt(report.sizes.base)}${report.sizes.large < 1_000_000 ? " (the target is for 1 000 000 tokens: run with `--large`)" : ""}.`,
    "",
    "| store | operation | × floor (1) | × floor (16) | × naive (1) | × naive (16) | large ÷ small |",
    "|---|---|---|---|---|---|---|",
  ];
  const cell = (c: TargetCheck | undefined) =>
    !c ? "–" : c.status === "PASS" ? `PASS ${fmtRatio(c.value!)}` : c.status === "n/a" ? "n/a" : c.value === undefined ? `**MISS** (${c.note})` : `**MISS** ${fmtRatio(c.value)} (${c.by})`;
  const keys = [...new Map(checks.map((c) => [`${c.store}\0${c.operation}`, c])).values()];
  for (const { store, operation } of keys) {
    const find = (kind: TargetCheck["kind"], inFlight: number) => checks.find((c) => c.store === store && c.operation === operation && c.kind === kind && c.inFlight === inFlight);
    const write = (inFlight: number) => {
      const x = report.stores.find((st) => st.name === store)?.rows.find((r) => r.operation === operation && r.inFlight === inFlight)?.xWriteFloor;
      return x === undefined ? "" : `; ${fmtRatio(x)}× write floor`;
    };
    out.push(`| ${store} | ${operation} | ${cell(find("floor", 1))}${write(1)} | ${cell(find("floor", 16))}${write(16)} | ${cell(find("naive", 1))} | ${cell(find("naive", 16))} | ${cell(find("scale", 1))} |`);
  }
  const reasons = [...new Set(checks.filter((c) => c.status === "n/a").map((c) => `${c.store}: ${c.note}`))];
  if (reasons.length > 0) out.push("", "n/a:", ...reasons.map((r) => `- ${r}`));
  out.push("");
  return out;
}

function table(rows: Row[], withNaive = true): string[] {
  const withFloor = rows.some((r) => r.floor);
  const withWrite = rows.some((r) => r.writeFloor);
  const us = (r: Result | undefined) => (isMeasurement(r) ? fmtUs(r.medianUs) : r ? `error: ${r.error}` : "");
  const ratio = (n: number | undefined) => (n === undefined ? "–" : fmtRatio(n));
  const head = [
    "operation",
    "in flight",
    "median µs",
    "ops/s",
    ...(withFloor ? ["floor µs"] : []),
    "× floor",
    ...(withWrite ? ["write floor µs", "× write floor"] : []),
    ...(withNaive ? ["× naive"] : []),
  ];
  const out = [`| ${head.join(" | ")} |`, `|---|${head.slice(1).map(() => "---:").join("|")}|`];
  for (const row of rows) {
    const r = row.result;
    const ok = isMeasurement(r);
    const cells = [
      ok ? fmtUs(r.medianUs) : `**error**: ${r.error}`,
      ok ? fmtInt(r.opsPerSec) : "",
      ...(withFloor ? [us(row.floor)] : []),
      ok ? ratio(row.xFloor) : "",
      ...(withWrite ? [us(row.writeFloor), ok ? ratio(row.xWriteFloor) : ""] : []),
      ...(withNaive ? [ok ? ratio(row.xNaive) : ""] : []),
    ];
    out.push(`| ${row.operation} | ${row.inFlight} | ${cells.join(" | ")} |`);
  }
  out.push("");
  return out;
}

function scaleTable(rows: ScaleRow[], report: Report): string[] {
  if (rows.length === 0) return [];
  const out = [`| lookup (1 in flight) | µs at ${fmtInt(report.sizes.base)} | µs at ${fmtInt(report.sizes.large)} | large ÷ small |`, "|---|---:|---:|---:|"];
  const us = (r: Result) => (isMeasurement(r) ? fmtUs(r.medianUs) : `**error**: ${r.error}`);
  for (const row of rows) out.push(`| ${row.operation} | ${us(row.small)} | ${us(row.large)} | ${row.ratio === undefined ? "–" : fmtRatio(row.ratio)} |`);
  out.push("");
  return out;
}

function fmtUs(us: number): string {
  return us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : fmtInt(us);
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function fmtRatio(n: number): string {
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

function fmtMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

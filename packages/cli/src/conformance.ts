import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { conformanceGroups, runConformance, type ConformanceTarget, type TestResult } from "@tokenstore/conformance";
import { conformanceTarget, defaultServerUrls, parseStoreUrl, probeStore, type ParsedStoreUrl } from "@tokenstore/url";
import { parseStoreArg, UsageError } from "./stores.js";
import type { Io } from "./io.js";

/** One row of the matrix: a backend that ran, or one that could not run (with the reason). */
export interface BackendReport {
  name: string;
  /** The URL (password hidden) or module path. */
  source: string;
  status: "ran" | "skipped" | "error";
  reason?: string;
  results: TestResult[];
  durationMs: number;
}

export interface ConformanceOptions {
  urls: string[];
  modules: string[];
  groups: string[];
  json: boolean;
  /** Print each failure's stack and causes (a custom store's own bugs show up there). */
  debug?: boolean;
}

interface Planned {
  name: string;
  source: string;
  /** Builds the target; rejects when it cannot run. */
  target?: () => Promise<ConformanceTarget>;
  /** Set when the backend is not run at all. */
  skip?: string;
  /** An explicitly requested backend that does not answer is an error, a default one is skipped. */
  requested: boolean;
}

/** Runs the suite against every requested backend; resolves the exit code. */
export async function runConformanceCommand(options: ConformanceOptions, io: Io): Promise<number> {
  const known = conformanceGroups.map((g) => g.name);
  for (const group of options.groups) {
    if (!known.includes(group)) throw new UsageError(`unknown group "${group}"; groups are ${known.join(", ")}`);
  }
  const planned = await plan(options, io);
  const reports: BackendReport[] = [];
  for (const p of planned) reports.push(await runOne(p, options, io));
  const failed = reports.some((r) => r.status === "error" || r.results.some((t) => t.status === "fail"));
  if (options.json) io.stdout(`${JSON.stringify(jsonReport(reports, failed), null, 2)}\n`);
  else io.stdout(renderReport(reports, options.groups.length > 0 ? options.groups : known, options.debug));
  return failed ? 1 : 0;
}

async function plan(options: ConformanceOptions, io: Io): Promise<Planned[]> {
  const planned: Planned[] = [];
  const names = new Map<string, number>();
  const unique = (name: string) => {
    const n = (names.get(name) ?? 0) + 1;
    names.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  };
  const stores: { url: string; spec: ParsedStoreUrl; requested: boolean; hint?: string }[] = options.urls.map((url) => ({ url, spec: parseStoreArg(url), requested: true }));
  if (options.urls.length === 0 && options.modules.length === 0) {
    for (const url of ["memory:", "file:", "sqlite:"]) stores.push({ url, spec: parseStoreUrl(url), requested: true });
    for (const server of defaultServerUrls(io.env)) {
      const spec = parseStoreUrl(server.url);
      stores.push({ url: server.url, spec, requested: false, hint: `no ${server.label} at ${spec.display} — set ${server.env}` });
    }
  }
  // Probe every server at once: the slowest takes at most 1.5 s.
  const probes = await Promise.all(stores.map(({ url, spec }) => (spec.serverUrl ? probeStore(url) : Promise.resolve(null))));
  stores.forEach(({ url, spec, requested, hint }, i) => {
    const problem = probes[i];
    const entry: Planned = { name: unique(spec.kind), source: spec.display, requested };
    if (problem) entry.skip = requested ? `cannot reach ${spec.display}: ${problem}` : `${hint ?? spec.display} (${problem})`;
    else entry.target = () => conformanceTarget(url);
    planned.push(entry);
  });
  for (const path of options.modules) {
    planned.push({ name: "", source: path, requested: true, target: () => loadTarget(path) });
  }
  return planned.map((p) => p);
}

/** Loads a user's target: default export or `target` export, a ConformanceTarget or a function returning one. */
export async function loadTarget(path: string): Promise<ConformanceTarget> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path) ? path : pathToFileURL(resolve(path)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load module ${path}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`, { cause: error });
  }
  let target: unknown = mod.default ?? mod.target;
  if (typeof target === "function") target = await (target as () => unknown)();
  const t = target as Partial<ConformanceTarget> | undefined;
  if (!t || typeof t !== "object" || typeof t.name !== "string" || typeof t.setup !== "function") {
    throw new Error(`module ${path} must export (default, or as "target") a ConformanceTarget { name, setup() } or a function returning one`);
  }
  return t as ConformanceTarget;
}

async function runOne(p: Planned, options: ConformanceOptions, io: Io): Promise<BackendReport> {
  if (p.skip || !p.target) {
    const status = p.requested ? "error" : "skipped";
    io.stderr(`${status === "error" ? "FAILED " : "SKIPPED"} ${p.name}: ${p.skip}\n`);
    return { name: p.name, source: p.source, status, reason: p.skip, results: [], durationMs: 0 };
  }
  const started = performance.now();
  let target: ConformanceTarget;
  try {
    target = await p.target();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    io.stderr(`FAILED  ${p.name || p.source}: ${reason}\n`);
    return { name: p.name || p.source, source: p.source, status: "error", reason, results: [], durationMs: performance.now() - started };
  }
  const name = p.name || target.name;
  io.stderr(`running ${name} (${p.source}) …\n`);
  const results = await runConformance({ ...target, name }, options.groups.length > 0 ? { groups: options.groups } : {});
  return { name, source: p.source, status: "ran", results, durationMs: performance.now() - started };
}

// ---------------------------------------------------------------- output

interface Counts {
  pass: number;
  fail: number;
  skip: number;
  ms: number;
}

function count(results: readonly TestResult[]): Counts {
  const c: Counts = { pass: 0, fail: 0, skip: 0, ms: 0 };
  for (const r of results) {
    c[r.status]++;
    c.ms += r.durationMs;
  }
  return c;
}

function cell(c: Counts): string {
  if (c.pass + c.fail + c.skip === 0) return "-";
  const parts = [];
  if (c.pass) parts.push(`${c.pass} pass`);
  if (c.fail) parts.push(`${c.fail} FAIL`);
  if (c.skip) parts.push(`${c.skip} skip`);
  return `${parts.join(" ")} ${seconds(c.ms)}`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** The matrix: one row per group, one column per backend; then skipped backends and failures. */
export function renderReport(reports: readonly BackendReport[], groups: readonly string[], debug = false): string {
  const ran = reports.filter((r) => r.status === "ran");
  const lines: string[] = [];
  if (ran.length > 0) {
    const header = ["group", ...ran.map((r) => r.name)];
    const rows = groups.map((g) => [g, ...ran.map((r) => cell(count(r.results.filter((t) => t.group === g))))]);
    rows.push(["total", ...ran.map((r) => cell({ ...count(r.results), ms: r.durationMs }))]);
    const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
    const fmt = (row: string[]) => row.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
    lines.push(fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(0, -1).map(fmt), widths.map((w) => "-".repeat(w)).join("  "), fmt(rows.at(-1)!));
  }
  const notRun = reports.filter((r) => r.status !== "ran");
  if (notRun.length > 0) {
    lines.push("");
    for (const r of notRun) lines.push(`${r.status === "skipped" ? "SKIPPED" : "FAILED "} ${r.name}: ${r.reason}`);
  }
  const failures = ran.flatMap((r) => r.results.filter((t) => t.status === "fail"));
  if (failures.length > 0) {
    lines.push("", `FAILURES (${failures.length})`);
    for (const f of failures) {
      lines.push(`  ${f.target} › ${f.group} › ${f.test}`);
      for (const line of (f.message ?? "").split("\n").slice(0, 12)) lines.push(`      ${line}`);
      if (debug) {
        for (let e: unknown = f.error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
          for (const line of (e.stack ?? e.message).split("\n")) lines.push(`      ${depth ? "caused by: " : ""}${line}`);
        }
      }
    }
  }
  const total = count(ran.flatMap((r) => r.results));
  const errors = reports.filter((r) => r.status === "error").length;
  lines.push(
    "",
    `${total.fail === 0 && errors === 0 ? "OK" : "FAILED"}: ${total.pass} passed, ${total.fail} failed, ${total.skip} skipped on ${ran.length} backend${ran.length === 1 ? "" : "s"}` +
      (errors ? `; ${errors} backend${errors === 1 ? "" : "s"} could not run` : "") +
      (reports.some((r) => r.status === "skipped") ? `; ${reports.filter((r) => r.status === "skipped").length} not configured (SKIPPED above)` : ""),
  );
  return `${lines.join("\n")}\n`;
}

function jsonReport(reports: readonly BackendReport[], failed: boolean) {
  return {
    ok: !failed,
    backends: reports.map((r) => {
      const groups: Record<string, Counts> = {};
      for (const t of r.results) {
        const c = (groups[t.group] ??= { pass: 0, fail: 0, skip: 0, ms: 0 });
        c[t.status]++;
        c.ms += t.durationMs;
      }
      return {
        name: r.name,
        source: r.source,
        status: r.status,
        ...(r.reason ? { reason: r.reason } : {}),
        durationMs: Math.round(r.durationMs),
        totals: count(r.results),
        groups,
        failures: r.results.filter((t) => t.status === "fail").map((t) => ({ group: t.group, test: t.test, message: t.message })),
        skips: r.results.filter((t) => t.status === "skip").map((t) => ({ group: t.group, test: t.test, reason: t.message })),
      };
    }),
  };
}

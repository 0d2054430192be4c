// `pnpm bench` → node dist/run.js [--quick] [--large] [--stores=a,b] [--out=path] [--no-write] [--no-rss]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { checkTargets, keptAnalysis, renderMarkdown } from "./report.js";
import { runBenchmarks } from "./runner.js";

const HELP = `Usage: pnpm bench [--quick] [--large] [--stores=memory,file,...] [--out=path] [--no-write] [--no-rss]
  --quick     smoke run: tiny stores and time budgets (seconds); does not write docs/benchmarks.md
  --large     scale check with 1 000 000 tokens instead of 100 000 (or TOKENSTORE_BENCH_LARGE=1)
  --stores    only these stores: memory, file, sqlite, mysql, postgres, redis, mongo
  --out       write the markdown report here (default: docs/benchmarks.md at the repository root)
  --no-write  print the report only
  --no-rss    skip the file store's memory measurement`;

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    large: { type: "boolean", default: process.env.TOKENSTORE_BENCH_LARGE === "1" },
    stores: { type: "string" },
    out: { type: "string" },
    "no-write": { type: "boolean", default: false },
    "no-rss": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const STORES = ["memory", "file", "sqlite", "mysql", "postgres", "redis", "mongo"];
const stores = values.stores?.split(",").map((s) => s.trim());
const unknown = stores?.filter((s) => !STORES.includes(s)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown store(s): ${unknown.join(", ")}; stores are ${STORES.join(", ")}`);
  process.exit(2);
}

const args = process.argv.slice(2).filter((a) => a !== "--");
const report = await runBenchmarks({
  quick: values.quick,
  large: values.large,
  rss: !values["no-rss"],
  ...(stores ? { stores } : {}),
});
const command = ["pnpm bench", ...(values.large && !args.includes("--large") ? ["--large"] : []), ...args].join(" ");
const out = values.out ?? (values.quick ? undefined : fileURLToPath(new URL("../../../docs/benchmarks.md", import.meta.url)));
const analysis = out && existsSync(out) ? keptAnalysis(readFileSync(out, "utf8")) : undefined;
const markdown = renderMarkdown(report, { command, ...(analysis ? { analysis } : {}) });
process.stdout.write(`${markdown}\n`);

if (out && !values["no-write"]) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, markdown);
  process.stderr.write(`report written to ${out}\n`);
}

const unavailable = report.stores.filter((s) => !s.available);
for (const s of unavailable) process.stderr.write(`NOT AVAILABLE: ${s.name}: ${s.reason}\n`);
const misses = checkTargets(report).filter((c) => c.status === "MISS");
process.stderr.write(`${misses.length} target(s) missed\n`);
// A broken benchmark (a store that failed or an operation that errored) fails the command;
// missed targets and absent stores do not.
const broken = report.stores.some((s) => s.available && (s.reason || s.rows.some((r) => "error" in r.result)));
process.exitCode = broken ? 1 : 0;

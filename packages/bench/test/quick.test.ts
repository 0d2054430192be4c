import { describe, expect, it } from "vitest";
import { checkTargets, IN_FLIGHT, isMeasurement, keptAnalysis, LOOKUPS, OPERATIONS, renderMarkdown, runBenchmarks } from "../src/index.js";

// The quick mode against the memory store (and the naive SQLite reference it is compared with):
// catches a broken benchmark without any server.
describe("pnpm bench --quick (memory only)", () => {
  it("measures every operation and renders the report", async () => {
    const report = await runBenchmarks({ quick: true, stores: ["memory"], rss: false, log: () => {} });
    expect(report.mode).toBe("quick");
    const [memory] = report.stores;
    expect(memory?.name).toBe("memory");
    expect(memory?.available).toBe(true);
    expect(memory?.reason).toBeUndefined();

    for (const operation of OPERATIONS) {
      for (const inFlight of IN_FLIGHT) {
        const row = memory!.rows.find((r) => r.operation === operation && r.inFlight === inFlight);
        expect(row, `${operation} × ${inFlight}`).toBeDefined();
        expect(isMeasurement(row!.result), `${operation} × ${inFlight}: ${JSON.stringify(row!.result)}`).toBe(true);
        if (isMeasurement(row!.result)) {
          expect(row!.result.medianUs).toBeGreaterThan(0);
          expect(row!.result.opsPerSec).toBeGreaterThan(0);
          expect(row!.result.samples).toBeGreaterThan(0);
        }
      }
    }
    expect(memory!.scale.map((r) => r.operation)).toEqual([...LOOKUPS]);
    for (const row of memory!.scale) expect(row.ratio).toBeGreaterThan(0);

    // Embedded stores are compared with the naive SQLite sample, measured in the same run.
    const naive = report.naive[memory!.naive!];
    expect(naive?.error).toBeUndefined();
    const naiveLookup = naive!.rows.find((r) => r.operation === "findToken (user name)" && r.inFlight === 1);
    expect(isMeasurement(naiveLookup?.result)).toBe(true);
    expect(memory!.rows.find((r) => r.operation === "findToken (user name)" && r.inFlight === 1)?.xNaive).toBeGreaterThan(0);

    const checks = checkTargets(report);
    expect(checks.some((c) => c.target.includes("naive") && c.status !== "n/a")).toBe(true);
    const markdown = renderMarkdown(report, { command: "pnpm bench --quick --stores=memory" });
    for (const heading of ["# TokenStore benchmarks", "## Machine", "## Targets", "## memory", "### naive SQLite"]) {
      expect(markdown).toContain(heading);
    }
    for (const operation of OPERATIONS) expect(markdown).toContain(`| ${operation} | 16 |`);

    // The hand-written analysis of the previous report survives a rewrite.
    const edited = markdown.replace(/_Why each missed target[^\n]*_/, "Memory misses because of caches.");
    const again = renderMarkdown(report, { command: "x", analysis: keptAnalysis(edited)! });
    expect(again).toContain("Memory misses because of caches.");
  }, 60_000);

  it("reports a store it cannot reach as not available", async () => {
    process.env.TOKENSTORE_MONGO_URL = "mongodb://127.0.0.1:1/nothing-listens-here";
    const report = await runBenchmarks({ quick: true, stores: ["mongo"], rss: false, log: () => {} });
    expect(report.stores[0]?.available).toBe(false);
    expect(report.stores[0]?.reason).toMatch(/cannot import|not reachable/);
    expect(renderMarkdown(report, { command: "x" })).toContain("**NOT MEASURED**");
  });
});

// Prints one closing line for `pnpm test`: the totals over every package's vitest run.
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dirs = ["conformance", ...readdirSync(join(root, "packages")).map((d) => join("packages", d))];
let passed = 0, failed = 0, skipped = 0;
const missing = [];
for (const dir of dirs) {
  const file = join(root, dir, ".tmp/vitest-results.json");
  if (!existsSync(join(root, dir, "test"))) continue;
  if (!existsSync(file)) { missing.push(dir); continue; }
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  if (!r.success && r.numFailedTests === 0) failed += 1; // a suite that failed to load
}
if (missing.length) console.log(`no test results from: ${missing.join(", ")}`);
console.log(`${passed} passed, ${failed + missing.length} failed, ${skipped} skipped`);

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGES_DIR = fileURLToPath(new URL("../packages/", import.meta.url));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Tests that start child processes (plain Node, no TypeScript) import the built packages;
 * `pnpm test` builds them first with turbo. When such a test runs alone, this builds a package
 * (a folder name under packages/) whose dist is missing or older than its sources.
 */
export function ensureBuilt(...names: string[]): void {
  for (const name of names) buildIfStale(name);
}

function buildIfStale(name: string): void {
  const dir = join(PACKAGES_DIR, name);
  const out = join(dir, "dist", "index.js");
  const config = join(dir, "tsconfig.build.json");
  if (existsSync(out) && statSync(out).mtimeMs >= Math.max(newestSource(join(dir, "src")), statSync(config).mtimeMs)) return;
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: dir, stdio: "pipe" });
  } catch (error) {
    // tsc still emits on type errors; only a missing output is fatal here.
    if (!existsSync(out)) throw new Error(`building ${name} failed: ${String((error as { stdout?: Buffer }).stdout ?? error)}`);
    console.warn(`[tests] ${name} built with type errors`);
  }
}

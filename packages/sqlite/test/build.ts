import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Child processes run plain Node, which cannot load TypeScript sources: they import the built
 * package. Builds this package's dist (always, so it is never stale) and core's when missing
 * (root `pnpm test` builds every package first).
 */
export function buildForChildProcesses(): void {
  const tsc = join(packageDir, "node_modules", "typescript", "bin", "tsc");
  const core = join(packageDir, "..", "core");
  if (!existsSync(join(core, "dist", "index.js"))) execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: core, stdio: "inherit" });
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: packageDir, stdio: "inherit" });
}

export const workerPath = join(packageDir, "test", "worker.mjs");

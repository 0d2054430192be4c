import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuilt } from "../../../scripts/ensure-built.js";

/** Child processes run plain Node: they import the built packages. */
export function buildForChildProcesses(): void {
  ensureBuilt("core", "sqlite");
}

export const workerPath = join(dirname(fileURLToPath(import.meta.url)), "worker.mjs");

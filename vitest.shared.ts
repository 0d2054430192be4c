import { defineConfig } from "vitest/config";

// Tests import workspace packages from their sources (the "@tokenstore/source" export
// condition), so no build is needed to run them. vitest also hands these conditions to Node as
// --conditions: "import" must not be among them, or Node's require() of a dual package (pg-pool
// inside pg) loads its ESM build and fails.
const conditions = ["@tokenstore/source", "node", "default"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The JSON file feeds the one-line total that `pnpm test` prints at the end.
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest-results.json" },
  },
});

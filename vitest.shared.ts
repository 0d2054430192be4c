import { defineConfig } from "vitest/config";

// Tests import workspace packages from their sources (the "@tokenstore/source" export
// condition), so no build is needed to run them.
export default defineConfig({
  resolve: { conditions: ["@tokenstore/source", "import", "node", "default"] },
  ssr: { resolve: { conditions: ["@tokenstore/source", "import", "node", "default"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The JSON file feeds the one-line total that `pnpm test` prints at the end.
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest-results.json" },
  },
});

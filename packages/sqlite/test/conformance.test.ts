import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance } from "@tokenstore/conformance/vitest";
import { SqliteTokenStore } from "../src/index.js";

describeConformance({
  name: "sqlite",
  durable: true,
  // Every instance opened on a location is a separate connection to the same database file.
  shared: true,
  setup: async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenstore-sqlite-"));
    const path = join(dir, "tokens.db");
    return {
      open: () => new SqliteTokenStore({ path }),
      destroy: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

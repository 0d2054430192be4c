import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance } from "@tokenstore/conformance/vitest";
import { FileTokenStore } from "../src/index.js";

describeConformance({
  name: "file",
  durable: true,
  // Every instance opened on a location is a separate store on the same file.
  shared: true,
  setup: async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenstore-file-"));
    const path = join(dir, "tokens.json");
    return {
      open: () => new FileTokenStore({ path }),
      destroy: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

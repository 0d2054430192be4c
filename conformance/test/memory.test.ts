import { describeConformance } from "../src/vitest.js";
import { MemoryTokenStore } from "@tokenstore/memory";

describeConformance({
  name: "memory",
  durable: false,
  shared: false,
  setup: () => {
    // Instances do not share memory, so one location is one store instance, reopened as itself.
    const store = new MemoryTokenStore();
    return { open: () => store };
  },
});

import { describeConformance } from "@tokenstore/conformance/vitest";
import { afterAll } from "vitest";
import { createRedisStore } from "../src/index.js";
import { adminClient, destroyPrefix, REDIS_URL, randomPrefix } from "./helpers.js";

const admin = adminClient();
afterAll(() => admin.quit());

describeConformance({
  name: "redis",
  shared: true,
  setup: () => {
    const prefix = randomPrefix();
    return {
      open: () => createRedisStore({ url: REDIS_URL, prefix }),
      destroy: () => destroyPrefix(admin, prefix),
    };
  },
});

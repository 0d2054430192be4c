import { describeConformance } from "@tokenstore/conformance/vitest";
import { MongoClient } from "mongodb";
import { afterAll, describe, it } from "vitest";
import { createMongoStore } from "../src/index.js";
import { MONGO_URL, mongoUnavailable, randomCollection, warnSkipped } from "./helpers.js";

const unavailable = await mongoUnavailable();

if (unavailable !== null) {
  const title = warnSkipped("MongoDB conformance suite", unavailable);
  describe(title, () => {
    it.skip("TokenStore conformance: mongo (every group) did not run");
  });
} else {
  const admin = new MongoClient(MONGO_URL);
  afterAll(() => admin.close());

  describeConformance({
    name: "mongo",
    shared: true,
    setup: () => {
      const collection = randomCollection();
      return {
        open: () => createMongoStore({ url: MONGO_URL, collection }),
        destroy: async () => {
          const db = admin.db();
          await db.collection(collection).drop().catch(() => {});
          await db.collection("tokenstore_counters").deleteOne({ _id: collection as never });
        },
      };
    },
  });
}

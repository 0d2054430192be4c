import assert from "node:assert/strict";
import { isTokenStoreError } from "@tokenstore/core";
import { sampleToken } from "@tokenstore/conformance";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { createMongoStore, migrate } from "../src/index.js";
import { MONGO_URL, mongoUnavailable, randomCollection, warnSkipped } from "./helpers.js";
import { freePort } from "../../../scripts/test-support.js";

describe("mongo without a server", () => {
  it("rejects promptly with BACKEND_UNAVAILABLE when nothing listens", async () => {
    const store = createMongoStore({ url: `mongodb://127.0.0.1:${await freePort()}/tokenstore`, connectTimeoutMs: 500 });
    try {
      const started = performance.now();
      const error = await store.findToken({ userName: "a@example.com" }).then(() => assert.fail("succeeded without a server"), (e: unknown) => e);
      assert.ok(isTokenStoreError(error, "BACKEND_UNAVAILABLE"), String(error));
      expect(performance.now() - started).toBeLessThan(5_000);
      const saveError = await store.saveToken(sampleToken(1)).then(() => assert.fail("succeeded without a server"), (e: unknown) => e);
      assert.ok(isTokenStoreError(saveError, "BACKEND_UNAVAILABLE"), String(saveError));
      assert.ok(!String(saveError).includes("secret-1") && !String(saveError).includes("1000.at.1"));
    } finally {
      await store.close();
    }
  });

  it("rejects bad options with INVALID_OPTIONS", () => {
    const client = new MongoClient("mongodb://127.0.0.1:1/x");
    for (const options of [{}, { url: "http://x" }, { url: MONGO_URL, collection: "" }, { url: MONGO_URL, collection: "a$b" }, { url: MONGO_URL, collection: "system.x" }, { url: MONGO_URL, client }]) {
      assert.throws(() => createMongoStore(options as never), { code: "INVALID_OPTIONS" }, JSON.stringify(Object.keys(options)));
    }
  });
});

const unavailable = await mongoUnavailable();

if (unavailable !== null) {
  const title = warnSkipped("MongoDB behaviour tests", unavailable);
  describe(title, () => {
    it.skip("an app's own Db and MongoClient are never closed by the store");
    it.skip("documents use string ids, int64 expiry and the unique indexes");
    it.skip("migrate is idempotent and safe in parallel");
  });
} else {
  const admin = new MongoClient(MONGO_URL);
  const created: string[] = [];
  afterAll(async () => {
    for (const name of created) {
      await admin.db().collection(name).drop().catch(() => {});
      await admin.db().collection("tokenstore_counters").deleteOne({ _id: name as never });
    }
    await admin.close();
  });
  const collection = () => {
    const name = randomCollection();
    created.push(name);
    return name;
  };

  describe("mongo with a server", () => {
    it("an app's own Db and MongoClient are never closed by the store", async () => {
      const client = new MongoClient(MONGO_URL);
      try {
        const name = collection();
        const byDb = createMongoStore({ db: client.db(), collection: name });
        const saved = await byDb.saveToken(sampleToken(1));
        await byDb.close();
        const byClient = createMongoStore({ client, collection: name });
        assert.equal((await byClient.findTokenById(saved.id))?.userName, saved.userName);
        await byClient.close();
        assert.equal((await client.db().command({ ping: 1 })).ok, 1);
      } finally {
        await client.close();
      }
    });

    it("documents use string ids, int64 expiry and the unique indexes", async () => {
      const name = collection();
      const store = createMongoStore({ url: MONGO_URL, collection: name });
      try {
        const saved = await store.saveToken(sampleToken(1));
        const raw = admin.db().collection(name);
        assert.equal(await raw.countDocuments({ _id: saved.id as never, expiresAt: { $type: "long" } }), 1);
        const indexes = (await raw.indexes()).map((i) => i.name).sort();
        assert.deepEqual(indexes, ["_id_", "tokenstore_access", "tokenstore_grant", "tokenstore_identity", "tokenstore_refresh", "tokenstore_user"]);
        // A stored ObjectId id is not a token: CORRUPT_DATA, not a silently wrong id.
        await raw.insertOne({ userName: "odd@example.com", keys: { user: "x" } });
        await assert.rejects(store.getTokens(), { code: "CORRUPT_DATA" });
      } finally {
        await store.close();
      }
    });

    it("migrate is idempotent and safe in parallel", async () => {
      const name = collection();
      await Promise.all([1, 2, 3].map(() => migrate({ url: MONGO_URL, collection: name })));
      await migrate(admin.db(), name);
      assert.equal((await admin.db().collection(name).indexes()).length, 6);
    });
  });
}

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { sampleToken } from "@tokenstore/conformance";
import { afterAll, describe, it } from "vitest";
import { createRedisStore, keyBase } from "../src/index.js";
import { adminClient, destroyPrefix, keysUnder, randomPrefix, REDIS_URL } from "./helpers.js";

const admin = adminClient();
afterAll(() => admin.quit());

describe("redis key prefixes", () => {
  it("deleteTokens on one prefix leaves another prefix and unrelated keys intact", async () => {
    const [prefixA, prefixB] = [randomPrefix(), randomPrefix()];
    const unrelated = `tokenstore-test-unrelated:${randomUUID()}`;
    await admin.set(unrelated, "keep me");
    const a = createRedisStore({ url: REDIS_URL, prefix: prefixA });
    const b = createRedisStore({ url: REDIS_URL, prefix: prefixB });
    try {
      const inA = await a.saveToken(sampleToken(1));
      const inB = await b.saveToken(sampleToken(1));
      assert.equal(await a.acquireLease(inA.id, "h", 60_000), true);
      assert.equal(await b.findToken({ userName: "user2@example.com" }), null);
      assert.equal((await b.findToken({ userName: inA.userName }))?.id, inB.id, "the same user in two stores is two tokens");

      await a.deleteTokens();
      assert.deepEqual(await a.getTokens(), []);
      assert.equal((await b.getTokens()).length, 1);
      assert.equal(await admin.get(unrelated), "keep me");
      // Only the id counter is left of A: ids are never reused.
      assert.deepEqual(await keysUnder(admin, keyBase(prefixA)), [`${keyBase(prefixA)}seq`]);
      assert.ok((await keysUnder(admin, keyBase(prefixB))).length > 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await destroyPrefix(admin, prefixA);
      await destroyPrefix(admin, prefixB);
      await admin.del(unrelated);
    }
    assert.deepEqual(await keysUnder(admin, keyBase(prefixA)), []);
    assert.deepEqual(await keysUnder(admin, keyBase(prefixB)), []);
  });

  it("every key of a store carries the prefix's hash tag (one Cluster slot)", async () => {
    const prefix = randomPrefix();
    const store = createRedisStore({ url: REDIS_URL, prefix });
    try {
      const saved = await store.saveToken(sampleToken(1));
      await store.acquireLease(saved.id, "h", 60_000);
      const keys = await keysUnder(admin, `{${prefix}}`);
      assert.deepEqual(
        keys.map((k) => k.slice(prefix.length + 2).replace(/^(token|lease|user):.*$/, "$1:*")).sort(),
        ["ids", "idx:access", "idx:grant", "idx:identity", "idx:refresh", "lease:*", "seq", "token:*", "user:*"],
      );
    } finally {
      await store.close();
      await destroyPrefix(admin, prefix);
    }
  });

  it("rejects bad options with INVALID_OPTIONS", () => {
    for (const options of [{}, { url: "http://localhost" }, { url: "not a url" }, { url: REDIS_URL, prefix: "" }, { url: REDIS_URL, prefix: "a}b" }]) {
      assert.throws(() => createRedisStore(options), { code: "INVALID_OPTIONS" }, JSON.stringify(options));
    }
    assert.equal(keyBase("tokenstore:"), "{tokenstore:}");
    assert.equal(keyBase("app:{tokens}:"), "app:{tokens}:");
  });

  it("printing a store never shows the connection password", async () => {
    const store = createRedisStore({ url: "redis://:S3cretPW@127.0.0.1:1/0", prefix: randomPrefix() });
    try {
      assert.ok(!inspect(store, { depth: 8, showHidden: true }).includes("S3cretPW"));
      assert.ok(!JSON.stringify(store).includes("S3cretPW"));
    } finally {
      await store.close();
    }
  });
});

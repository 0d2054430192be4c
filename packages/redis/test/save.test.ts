import assert from "node:assert/strict";
import { sampleToken } from "@tokenstore/conformance";
import { afterAll, describe, it } from "vitest";
import { createRedisStore, type RedisTokenStore } from "../src/index.js";
import { adminClient, destroyPrefix, randomPrefix, REDIS_URL } from "./helpers.js";

const admin = adminClient();
afterAll(() => admin.quit());

async function withStores(n: number, run: (stores: RedisTokenStore[]) => Promise<void>): Promise<void> {
  const prefix = randomPrefix();
  const stores = Array.from({ length: n }, () => createRedisStore({ url: REDIS_URL, prefix }));
  try {
    await run(stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await destroyPrefix(admin, prefix);
  }
}

describe("redis saves whose new keys depend on stored values (two guarded round trips)", () => {
  it("parallel renames by id leave one token whose indexes point at its final user name only", async () => {
    await withStores(20, async (stores) => {
      const first = await stores[0]!.saveToken(sampleToken("r"));
      // A user name without a client id: the new user + client key needs the stored client id.
      await Promise.all(stores.map((s, i) => s.saveToken({ id: first.id, userName: `renamed-${i}@example.com` })));
      const all = await stores[0]!.getTokens();
      assert.equal(all.length, 1);
      const final = all[0]!;
      assert.equal(final.clientId, first.clientId);
      for (let i = 0; i < stores.length; i++) {
        const userName = `renamed-${i}@example.com`;
        const byUser = await stores[0]!.findToken({ userName });
        const byIdentity = await stores[0]!.findToken({ userName, clientId: first.clientId });
        assert.equal(byUser?.id, userName === final.userName ? final.id : undefined, `user index of ${userName}`);
        assert.equal(byIdentity?.id, userName === final.userName ? final.id : undefined, `identity index of ${userName}`);
      }
      assert.equal(await stores[0]!.findToken({ userName: first.userName }), null);
    });
  });

  it("a rename onto another token's user and client is a CONFLICT and changes nothing", async () => {
    await withStores(1, async ([store]) => {
      const a = await store!.saveToken(sampleToken("a"));
      const b = await store!.saveToken(sampleToken("b", { clientId: "other-client" }));
      // b keeps its client id "other-client", so taking a's user name is fine...
      const renamed = await store!.saveToken({ id: b.id, userName: a.userName });
      assert.equal(renamed.clientId, "other-client");
      // ...until b's client id becomes a's as well.
      await assert.rejects(store!.saveToken({ id: b.id, clientId: a.clientId }), { code: "CONFLICT" });
      assert.equal((await store!.findTokenById(b.id))?.clientId, "other-client");
      assert.equal((await store!.findToken({ userName: a.userName, clientId: a.clientId }))?.id, a.id);
      assert.equal((await store!.findToken({ userName: a.userName }))?.id, a.id, "lowest id wins for a user name alone");
    });
  });

  it("a user name alone picks the lowest id in core's order (length first: 9 < 10 < abc)", async () => {
    await withStores(1, async ([store]) => {
      for (const [id, clientId] of [["abc", "c1"], ["10", "c2"], ["9", "c3"], ["100", "c4"]]) await store!.saveToken({ id, userName: "same@example.com", clientId });
      assert.equal((await store!.findToken({ userName: "same@example.com" }))?.id, "9");
      await store!.deleteToken("9");
      assert.equal((await store!.findToken({ userName: "same@example.com" }))?.id, "10");
      const updated = await store!.saveToken({ userName: "same@example.com", apiDomain: "https://eu" });
      assert.equal(updated.id, "10", "a save by user name alone updates the same token a find picks");
      assert.equal((await store!.findToken({ clientId: "c1", userName: "same@example.com" }))?.apiDomain, null);
    });
  });

  it("imported decimal ids move the counter past them; very long ones do not break it", async () => {
    await withStores(1, async ([store]) => {
      await store!.saveToken({ id: "123456789012345", userName: "a" });
      await store!.saveToken({ id: "123456789012345678901234567890", userName: "b" });
      assert.equal((await store!.saveToken({ userName: "c" })).id, "123456789012346");
    });
  });
});

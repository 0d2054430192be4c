import assert from "node:assert/strict";
import { isTokenStoreError, type TokenStore } from "@tokenstore/core";
import { sampleToken } from "@tokenstore/conformance";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createRedisStore } from "../src/index.js";
import { freePort, PrivateRedis, sleep } from "./server.js";

async function rejectsUnavailable(call: Promise<unknown>, what: string): Promise<number> {
  const started = performance.now();
  const error = await call.then(
    () => assert.fail(`${what} succeeded while the server was down`),
    (e: unknown) => e,
  );
  assert.ok(isTokenStoreError(error, "BACKEND_UNAVAILABLE"), `${what}: expected BACKEND_UNAVAILABLE, got ${String(error)}`);
  return performance.now() - started;
}

describe("redis outage and recovery (private redis-server)", () => {
  let server: PrivateRedis;
  const stores: TokenStore[] = [];

  beforeAll(async () => {
    server = new PrivateRedis(await freePort());
    await server.start();
  });
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it("rejects promptly with BACKEND_UNAVAILABLE while the server is down, and the same instance works again after a restart", async () => {
    const logged = [vi.spyOn(console, "error"), vi.spyOn(console, "warn"), vi.spyOn(console, "log")];
    const store = createRedisStore({ url: server.url, prefix: "outage:" });
    stores.push(store);
    const saved = await store.saveToken(sampleToken(1));

    await server.kill();
    const calls: [string, () => Promise<unknown>][] = [
      ["findToken", () => store.findToken({ userName: saved.userName })],
      ["saveToken", () => store.saveToken(sampleToken(2))],
      ["getTokens", () => store.getTokens()],
      ["deleteToken", () => store.deleteToken(saved.id)],
      ["findTokenById", () => store.findTokenById(saved.id)],
    ];
    for (const [what, call] of calls) {
      const ms = await rejectsUnavailable(call(), what);
      console.info(`${what} failed in ${Math.round(ms)} ms`);
      expect(ms, `${what} took ${Math.round(ms)} ms to fail`).toBeLessThan(5_000);
    }

    await server.start();
    let found = null;
    for (let i = 0; i < 50 && found === null; i++) {
      found = await store.findToken({ userName: saved.userName }).catch(() => null);
      if (found === null) await sleep(200);
    }
    assert.equal(found?.id, saved.id, "the same store instance reads the token again (it survived in the AOF)");
    const second = await store.saveToken(sampleToken(2));
    assert.notEqual(second.id, saved.id);
    assert.equal((await store.getTokens()).length, 2);

    for (const spy of logged) {
      expect(spy, "ioredis reconnect errors must not be logged").not.toHaveBeenCalled();
      spy.mockRestore();
    }
  });

  it("a store whose server never answers rejects promptly with BACKEND_UNAVAILABLE", async () => {
    const store = createRedisStore({ url: `redis://127.0.0.1:${await freePort()}/0` });
    stores.push(store);
    const ms = await rejectsUnavailable(store.findToken({ userName: "a@example.com" }), "findToken");
    expect(ms).toBeLessThan(5_000);
    await store.close();
  });

  it("an app's own client is used as is and never closed by the store", async () => {
    const client = new Redis(server.url, { keyPrefix: "app:" });
    try {
      const store = createRedisStore({ client, prefix: "byo:" });
      const saved = await store.saveToken(sampleToken(1));
      assert.equal((await store.findToken({ userName: saved.userName }))?.id, saved.id);
      assert.equal(await store.acquireLease(saved.id, "h", 10_000), true);
      // ioredis adds the client's keyPrefix to every key, also the ones the scripts build.
      const [, keys] = await client.scan("0", "MATCH", "app:\\{byo:\\}token:*", "COUNT", 1000);
      assert.deepEqual(keys, [`app:{byo:}token:${saved.id}`]);
      await store.deleteTokens();
      assert.deepEqual(await store.getTokens(), []);
      await store.close();
      assert.equal(client.status, "ready");
      assert.equal(await client.ping(), "PONG");
    } finally {
      client.disconnect();
    }
  });
});

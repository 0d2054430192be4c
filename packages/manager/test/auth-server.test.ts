import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { TokenStore } from "@tokenstore/core";
import { createMemoryStore, type MemoryTokenStore } from "@tokenstore/memory";
import { createTokenManager, type TokenManagerOptions } from "../src/index.js";
import { AuthServer, BASIC_CLIENT, POST_CLIENT } from "./support/auth-server.js";

// One process, against a real authorization server with refresh-token rotation.
let server: AuthServer;
let store: MemoryTokenStore;
let user = 0;

beforeAll(async () => {
  server = await new AuthServer().start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.reset();
  store = createMemoryStore();
});

async function seedExpired(client = BASIC_CLIENT) {
  const userName = `user-${++user}@example.com`;
  const refreshToken = await server.mintRefreshToken(client.clientId, userName);
  const token = await store.saveToken({ userName, ...client, refreshToken, accessToken: `expired-${user}`, expiresAt: Date.now() - 1000 });
  return { token, partial: { userName, clientId: client.clientId }, refreshToken };
}

function manager(options: Partial<TokenManagerOptions> = {}, on: TokenStore = store) {
  return createTokenManager({
    store: on,
    oauth: { tokenEndpoint: server.tokenEndpoint, revocationEndpoint: server.revocationEndpoint },
    refreshMarginMs: 5_000,
    leaseTtlMs: 2_000,
    refreshTimeoutMs: 1_500,
    pollIntervalMs: 10,
    ...options,
  });
}

async function expectRotated(partial: { userName: string }, oldRefreshToken: string) {
  const stored = (await store.findToken(partial))!;
  expect(stored.refreshToken).not.toBe(oldRefreshToken);
  expect(await server.isLiveRefreshToken(stored.refreshToken)).toBe(true);
  expect(await server.isLiveRefreshToken(oldRefreshToken)).toBe(false);
  expect(await server.isLiveAccessToken(stored.accessToken)).toBe(true);
  expect(stored.expiresAt!).toBeGreaterThan(Date.now() + 60_000);
  return stored;
}

describe("one process, real authorization server", () => {
  test("200 concurrent calls on an expired token: one refresh, everyone gets the saved token", async () => {
    const { partial, refreshToken } = await seedExpired();
    const m = manager();
    const tokens = await Promise.all(Array.from({ length: 200 }, () => m.getAccessToken(partial)));
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
    expect(server.errors).toEqual([]);
    expect(new Set(tokens).size).toBe(1);
    const stored = await expectRotated(partial, refreshToken);
    expect(tokens[0]).toBe(stored.accessToken);
    // Valid now: further calls do not refresh.
    await Promise.all(Array.from({ length: 20 }, () => m.getAccessToken(partial)));
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
  });

  test("8 managers on one leasing store (as 8 processes would be) × 25 calls: one refresh", async () => {
    const { partial, refreshToken } = await seedExpired();
    const managers = Array.from({ length: 8 }, () => manager());
    expect(managers[0]!.coordinatesAcrossProcesses).toBe(true);
    const tokens = await Promise.all(managers.flatMap((m) => Array.from({ length: 25 }, () => m.getAccessToken(partial))));
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
    expect(server.errors).toEqual([]);
    expect(new Set(tokens).size).toBe(1);
    await expectRotated(partial, refreshToken);
  });

  test("control: the same 8 managers without leases refresh more than once and trip rotation's reuse detection", async () => {
    const { partial } = await seedExpired();
    const managers = Array.from({ length: 8 }, () => manager({ useLeases: false }));
    expect(managers[0]!.coordinatesAcrossProcesses).toBe(false);
    await Promise.allSettled(managers.flatMap((m) => Array.from({ length: 25 }, () => m.getAccessToken(partial))));
    expect(server.successes.length + server.errors.length).toBeGreaterThan(1);
  });

  test("three expiries in a row: one refresh each, the rotated refresh token is always the stored one", async () => {
    const { token, partial } = await seedExpired();
    const managers = Array.from({ length: 4 }, () => manager());
    for (let round = 1; round <= 3; round++) {
      const before = (await store.findTokenById(token.id))!;
      await store.saveToken({ id: token.id, expiresAt: Date.now() - 1000 });
      server.reset();
      const tokens = await Promise.all(managers.flatMap((m) => Array.from({ length: 25 }, () => m.getAccessToken(partial))));
      expect(server.refreshCount).toBe(1);
      expect(server.tokenRequests).toBe(1);
      expect(server.errors).toEqual([]);
      expect(new Set(tokens).size).toBe(1);
      await expectRotated(partial, before.refreshToken!);
    }
  });

  test("concurrent forced refreshes: one refresh", async () => {
    const { partial, refreshToken } = await seedExpired();
    await manager().getAccessToken(partial);
    server.reset();
    const before = (await store.findToken(partial))!;
    const m = manager();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => m.refresh(partial)));
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(tokens[0]!.accessToken).not.toBe(before.accessToken);
    expect(await server.isLiveRefreshToken(refreshToken)).toBe(false);
  });

  test("a lease held by a dead holder: callers wait until it expires, then one of them refreshes", async () => {
    const { token, partial } = await seedExpired();
    expect(await store.acquireLease(token.id, "dead-process", 1_000)).toBe(true);
    const started = Date.now();
    const managers = Array.from({ length: 4 }, () => manager());
    const tokens = await Promise.all(managers.flatMap((m) => Array.from({ length: 10 }, () => m.getAccessToken(partial))));
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
    expect(server.errors).toEqual([]);
    expect(new Set(tokens).size).toBe(1);
  });

  test("client_secret_post client; a wrong secret is refused and nothing is saved (authentication is really checked)", async () => {
    const { partial, refreshToken } = await seedExpired(POST_CLIENT);
    const post = { tokenEndpoint: server.tokenEndpoint, clientAuthentication: "client_secret_post" as const };
    await manager({ oauth: post }).getAccessToken(partial);
    expect(server.refreshCount).toBe(1);
    expect(server.tokenRequests).toBe(1);
    await expectRotated(partial, refreshToken);

    const other = await seedExpired(POST_CLIENT);
    const error = await manager({ oauth: { ...post, clientSecret: "wrong-secret" } })
      .getAccessToken(other.partial)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "REFRESH_FAILED", oauthError: "invalid_client", status: 401 });
    expect((await store.findToken(other.partial))!.refreshToken).toBe(other.refreshToken);
  });

  test("a refresh token the server no longer accepts: re-authorise error, the stored token is kept", async () => {
    const { token, partial, refreshToken } = await seedExpired();
    await manager().getAccessToken(partial);
    // Put the consumed refresh token back, as if a stale process had overwritten the row.
    await store.saveToken({ id: token.id, refreshToken, expiresAt: Date.now() - 1000 });
    const kept = await store.findTokenById(token.id);
    const error = await manager().getAccessToken(partial).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ReauthorizationRequiredError", code: "REAUTHORIZATION_REQUIRED", oauthError: "invalid_grant" });
    expect(String((error as Error).message)).not.toContain(refreshToken);
    expect(await store.findTokenById(token.id)).toEqual(kept);
  });

  test("revoke: the provider revokes the refresh token, then the token is deleted", async () => {
    const { partial, refreshToken } = await seedExpired();
    expect(await server.isLiveRefreshToken(refreshToken)).toBe(true);
    expect(await manager().revoke(partial)).toBe(true);
    expect(await server.isLiveRefreshToken(refreshToken)).toBe(false);
    expect(await store.findToken(partial)).toBeNull();
  });
});

import { inspect } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { PartialToken, Token, TokenStore } from "@tokenstore/core";
import { createMemoryStore, type MemoryTokenStore } from "@tokenstore/memory";
import {
  createTokenManager,
  ReauthorizationRequiredError,
  RefreshError,
  TokenManagerError,
  type TokenManagerOptions,
} from "../src/index.js";
import { FakeEndpoint } from "./support/fake-endpoint.js";

const SECRETS = ["client-secret-value", "refresh-token-value", "old-access-token", "rotated-refresh-token"];
const NOW = 1_800_000_000_000;

let endpoint: FakeEndpoint;
let store: MemoryTokenStore;

beforeAll(async () => {
  endpoint = await new FakeEndpoint().start();
});
afterAll(async () => {
  await endpoint.stop();
});
beforeEach(() => {
  endpoint.requests.length = 0;
  endpoint.handler = () => ({ status: 500, body: "no handler" });
  store = createMemoryStore();
});

function seed(extra: PartialToken = {}): Promise<Token> {
  return store.saveToken({
    userName: "user@example.com",
    clientId: "client-id-1",
    clientSecret: "client-secret-value",
    refreshToken: "refresh-token-value",
    accessToken: "old-access-token",
    expiresAt: NOW - 1000,
    apiDomain: "https://www.zohoapis.eu",
    ...extra,
  });
}

function manager(options: Partial<TokenManagerOptions> = {}) {
  return createTokenManager({
    store,
    oauth: { tokenEndpoint: `${endpoint.url}/token`, revocationEndpoint: `${endpoint.url}/revoke`, ...options.oauth },
    now: () => NOW,
    refreshMarginMs: 60_000,
    ...options,
  });
}

/** Asserts an error's message, JSON and inspection contain none of the test's secrets. */
function expectNoSecrets(error: unknown) {
  const e = error as Error;
  const seen = `${e.message} ${inspect(e, { depth: 5 })} ${JSON.stringify(e)} ${String((e.cause as Error | undefined)?.message ?? "")}`;
  for (const secret of SECRETS) expect(seen).not.toContain(secret);
}

async function rejection(promise: Promise<unknown>): Promise<TokenManagerError> {
  try {
    await promise;
  } catch (error) {
    expectNoSecrets(error);
    return error as TokenManagerError;
  }
  throw new Error("expected a rejection");
}

/** The plain TokenStore methods of `target`, without leases. */
function delegate(target: TokenStore): TokenStore {
  return {
    findToken: (p) => target.findToken(p),
    saveToken: (t) => target.saveToken(t),
    deleteToken: (id) => target.deleteToken(id),
    getTokens: () => target.getTokens(),
    deleteTokens: () => target.deleteTokens(),
    findTokenById: (id) => target.findTokenById(id),
    close: () => target.close(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const USER = { userName: "user@example.com", clientId: "client-id-1" };

describe("token response handling", () => {
  test("expires_in is seconds, counted from when the request was sent", async () => {
    await seed();
    endpoint.handler = () => ({ body: { access_token: "new-access", expires_in: 3600, token_type: "Bearer" } });
    expect(await manager().getAccessToken(USER)).toBe("new-access");
    const stored = await store.findToken(USER);
    expect(stored?.expiresAt).toBe(NOW + 3_600_000);
    expect(stored?.accessToken).toBe("new-access");
  });

  test("Zoho's expires_in in milliseconds beside expires_in_sec: expires_in_sec wins", async () => {
    await seed();
    endpoint.handler = () => ({ body: { access_token: "new-access", expires_in: 3_600_000, expires_in_sec: 3600, api_domain: "https://www.zohoapis.com" } });
    await manager().getAccessToken(USER);
    const stored = await store.findToken(USER);
    expect(stored?.expiresAt).toBe(NOW + 3_600_000);
    expect(stored?.apiDomain).toBe("https://www.zohoapis.com");
  });

  test("a response without refresh_token or api_domain keeps the stored ones; a rotated refresh token replaces the old one", async () => {
    await seed();
    endpoint.handler = () => ({ body: { access_token: "new-access-1", expires_in: 3600 } });
    await manager().getAccessToken(USER);
    let stored = await store.findToken(USER);
    expect(stored?.refreshToken).toBe("refresh-token-value");
    expect(stored?.apiDomain).toBe("https://www.zohoapis.eu");
    expect(stored?.clientSecret).toBe("client-secret-value");

    endpoint.handler = () => ({ body: { access_token: "new-access-2", expires_in: 3600, refresh_token: "rotated-refresh-token" } });
    await manager().refresh(USER);
    stored = await store.findToken(USER);
    expect(stored?.refreshToken).toBe("rotated-refresh-token");
    expect(stored?.accessToken).toBe("new-access-2");
    expect(endpoint.requests[1]!.params.get("refresh_token")).toBe("refresh-token-value");
  });

  test("an error body with HTTP 200 is never saved; invalid_code means re-authorise", async () => {
    const before = await seed();
    endpoint.handler = () => ({ status: 200, body: { error: "invalid_code" } });
    const error = await rejection(manager().getAccessToken(USER));
    expect(error).toBeInstanceOf(ReauthorizationRequiredError);
    expect(error.code).toBe("REAUTHORIZATION_REQUIRED");
    expect(error.oauthError).toBe("invalid_code");
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("other error bodies, HTTP errors and answers without access_token fail with REFRESH_FAILED and save nothing", async () => {
    const before = await seed();
    const replies = [
      { status: 200, body: { error: "access_denied", error_description: "nope" } },
      { status: 503, body: "<html>maintenance</html>" },
      { status: 200, body: { expires_in: 3600 } },
      { status: 200, body: "not json" },
      { status: 400, body: { error: "invalid_client", error_description: "bad refresh-token-value" } },
    ];
    const codes: (string | undefined)[] = [];
    for (const reply of replies) {
      endpoint.handler = () => reply;
      const error = await rejection(manager().getAccessToken(USER));
      expect(error).toBeInstanceOf(RefreshError);
      expect(error.code).toBe("REFRESH_FAILED");
      codes.push(error.oauthError);
    }
    expect(codes).toEqual(["access_denied", undefined, undefined, undefined, "invalid_client"]);
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("invalid_grant with no change in the store: re-authorise error, the token is kept", async () => {
    const before = await seed();
    endpoint.handler = () => ({ status: 400, body: { error: "invalid_grant", error_description: "grant request is invalid" } });
    const error = await rejection(manager().getAccessToken(USER));
    expect(error).toBeInstanceOf(ReauthorizationRequiredError);
    expect(error.oauthError).toBe("invalid_grant");
    expect(error.status).toBe(400);
    expect(error.tokenId).toBe(before.id);
    expect(endpoint.requests).toHaveLength(1);
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("invalid_grant after another process rotated and saved a fresh token: that token is used", async () => {
    const token = await seed();
    endpoint.handler = async () => {
      // Another process refreshed between our read and our request.
      await store.saveToken({ id: token.id, refreshToken: "rotated-refresh-token", accessToken: "other-process-access", expiresAt: NOW + 3_600_000 });
      return { status: 400, body: { error: "invalid_grant" } };
    };
    expect(await manager().getAccessToken(USER)).toBe("other-process-access");
    expect(endpoint.requests).toHaveLength(1);
  });

  test("invalid_grant after another process rotated the refresh token only: retried once with the new one", async () => {
    const token = await seed();
    endpoint.handler = async (request) => {
      if (request.params.get("refresh_token") === "refresh-token-value") {
        await store.saveToken({ id: token.id, refreshToken: "rotated-refresh-token" });
        return { status: 400, body: { error: "invalid_grant" } };
      }
      return { body: { access_token: "new-access", expires_in: 3600 } };
    };
    expect(await manager().getAccessToken(USER)).toBe("new-access");
    expect(endpoint.requests.map((r) => r.params.get("refresh_token"))).toEqual(["refresh-token-value", "rotated-refresh-token"]);
  });

  test("a token without refresh or grant token: re-authorise, nothing sent", async () => {
    await seed({ refreshToken: null });
    const error = await rejection(manager().getAccessToken(USER));
    expect(error.code).toBe("REAUTHORIZATION_REQUIRED");
    expect(endpoint.requests).toHaveLength(0);
  });

  test("a token with only a grant token is exchanged with authorization_code (Zoho's first use)", async () => {
    await seed({ refreshToken: null, accessToken: null, expiresAt: null, grantToken: "grant-code-1", redirectUrl: "https://app.example/cb" });
    endpoint.handler = () => ({ body: { access_token: "first-access", refresh_token: "first-refresh", expires_in: 3600 } });
    expect(await manager({ oauth: { tokenEndpoint: `${endpoint.url}/token`, clientAuthentication: "client_secret_post" } }).getAccessToken(USER)).toBe("first-access");
    const params = endpoint.requests[0]!.params;
    expect(params.get("grant_type")).toBe("authorization_code");
    expect(params.get("code")).toBe("grant-code-1");
    expect(params.get("redirect_uri")).toBe("https://app.example/cb");
    expect((await store.findToken(USER))?.refreshToken).toBe("first-refresh");
  });
});

describe("client authentication", () => {
  test("client_secret_basic: form-urlencoded credentials in the Authorization header, none in the body", async () => {
    await seed({ clientId: "client id/1", clientSecret: "s3cret:+&=" });
    endpoint.handler = () => ({ body: { access_token: "a", expires_in: 3600 } });
    await manager().getAccessToken({ userName: "user@example.com", clientId: "client id/1" });
    const request = endpoint.requests[0]!;
    const [scheme, encoded] = request.headers.authorization!.split(" ");
    expect(scheme).toBe("Basic");
    const [id, secret] = Buffer.from(encoded!, "base64").toString().split(":").map((part) => decodeURIComponent(part.replace(/\+/g, " ")));
    expect([id, secret]).toEqual(["client id/1", "s3cret:+&="]);
    expect(request.params.get("client_secret")).toBeNull();
    expect(request.params.get("client_id")).toBeNull();
    expect(request.params.get("grant_type")).toBe("refresh_token");
    expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  });

  test("client_secret_post: credentials in the body, no Authorization header; extra params and configured credentials", async () => {
    await seed();
    endpoint.handler = () => ({ body: { access_token: "a", expires_in: 3600 } });
    await manager({
      oauth: { tokenEndpoint: `${endpoint.url}/token`, clientAuthentication: "client_secret_post", clientId: "configured-id", clientSecret: "configured-secret", extraParams: { scope: "ZohoCRM.modules.ALL" } },
    }).getAccessToken(USER);
    const request = endpoint.requests[0]!;
    expect(request.headers.authorization).toBeUndefined();
    expect(request.params.get("client_id")).toBe("configured-id");
    expect(request.params.get("client_secret")).toBe("configured-secret");
    expect(request.params.get("scope")).toBe("ZohoCRM.modules.ALL");
    expect(request.params.get("refresh_token")).toBe("refresh-token-value");
  });
});

describe("expiry margin and clock", () => {
  test("a token expiring within the margin is refreshed; outside it, it is used as is", async () => {
    await seed({ expiresAt: NOW + 30_000 });
    endpoint.handler = () => ({ body: { access_token: "new-access", expires_in: 3600 } });
    expect(await manager({ refreshMarginMs: 5_000 }).getAccessToken(USER)).toBe("old-access-token");
    expect(endpoint.requests).toHaveLength(0);
    expect(await manager({ refreshMarginMs: 60_000 }).getAccessToken(USER)).toBe("new-access");
    expect(endpoint.requests).toHaveLength(1);
  });

  test("the expiry counts from when the request was sent, not when the slow answer arrived", async () => {
    await seed({ expiresAt: Date.now() - 1000 });
    endpoint.handler = () => ({ body: { access_token: "slow-access", expires_in: 60 }, delayMs: 400 });
    const before = Date.now();
    await manager({ now: Date.now, refreshMarginMs: 5_000 }).getAccessToken(USER);
    const after = Date.now();
    const expiresAt = (await store.findToken(USER))!.expiresAt!;
    expect(after - before).toBeGreaterThanOrEqual(400);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(expiresAt).toBeLessThanOrEqual(endpoint.requests[0]!.receivedAt + 60_000);
  });

  test("a token with an access token and no expiry is used as is; one with no access token is refreshed", async () => {
    await seed({ expiresAt: null });
    endpoint.handler = () => ({ body: { access_token: "new-access", expires_in: 3600 } });
    expect(await manager().getAccessToken(USER)).toBe("old-access-token");
    await store.saveToken({ userName: "other@example.com", clientId: "client-id-1", clientSecret: "client-secret-value", refreshToken: "r2" });
    expect(await manager().getAccessToken({ userName: "other@example.com" })).toBe("new-access");
  });

  test("a provider that never answers: REFRESH_TIMEOUT, nothing saved", async () => {
    const before = await seed();
    endpoint.handler = () => new Promise(() => {});
    const started = Date.now();
    const error = await rejection(manager({ refreshTimeoutMs: 300, leaseTtlMs: 1000 }).getAccessToken(USER));
    expect(error.code).toBe("REFRESH_TIMEOUT");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("an unreachable provider: REFRESH_FAILED without secrets", async () => {
    const before = await seed();
    const error = await rejection(manager({ oauth: { tokenEndpoint: "http://127.0.0.1:1/token" } }).getAccessToken(USER));
    expect(error.code).toBe("REFRESH_FAILED");
    expect(await store.findToken(USER)).toEqual(before);
  });
});

describe("revoke, forget, lookups", () => {
  test("revoke calls the revocation endpoint with the refresh token, then deletes", async () => {
    await seed();
    endpoint.handler = () => ({ status: 200, body: "" });
    expect(await manager().revoke(USER)).toBe(true);
    const request = endpoint.requests[0]!;
    expect(request.path).toBe("/revoke");
    expect(request.params.get("token")).toBe("refresh-token-value");
    expect(request.params.get("token_type_hint")).toBe("refresh_token");
    expect(request.headers.authorization).toMatch(/^Basic /);
    expect(await store.findToken(USER)).toBeNull();
    expect(await manager().revoke(USER)).toBe(false);
  });

  test("a refused revocation keeps the token", async () => {
    const before = await seed();
    endpoint.handler = () => ({ status: 503, body: { error: "temporarily_unavailable" } });
    const error = await rejection(manager().revoke(USER));
    expect(error.code).toBe("REVOCATION_FAILED");
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("forget deletes without calling the provider", async () => {
    await seed();
    expect(await manager().forget(USER)).toBe(true);
    expect(await manager().forget(USER)).toBe(false);
    expect(endpoint.requests).toHaveLength(0);
  });

  test("an unknown token: TOKEN_NOT_FOUND", async () => {
    const error = await rejection(manager().getAccessToken({ userName: "nobody@example.com" }));
    expect(error.code).toBe("TOKEN_NOT_FOUND");
  });

  test("a custom refresher is called with the stored token and its result is saved", async () => {
    const token = await seed();
    const seen: string[] = [];
    const m = createTokenManager({
      store,
      now: () => NOW,
      refresher: async (t) => {
        seen.push(t.id);
        return { accessToken: "custom-access", expiresAt: NOW + 10 * 60_000, refreshToken: null };
      },
    });
    expect(await m.getToken(USER)).toMatchObject({ id: token.id, accessToken: "custom-access", refreshToken: "refresh-token-value" });
    expect(seen).toEqual([token.id]);
  });

  test("a refresher returning an expiry in seconds is refused and nothing is saved", async () => {
    const before = await seed();
    const m = createTokenManager({ store, now: () => NOW, refresher: async () => ({ accessToken: "custom-access", expiresAt: Math.floor(NOW / 1000) + 3600 }) });
    const error = await rejection(m.getAccessToken(USER));
    expect(error.code).toBe("REFRESH_FAILED");
    expect(await store.findToken(USER)).toEqual(before);
  });

  test("after taking the lease the token is re-read: a refresh another process saved meanwhile is used, none is sent", async () => {
    const token = await seed();
    // Our read sees the expired token; right after it, another process refreshes and releases its lease.
    const racing = {
      ...delegate(store),
      acquireLease: (id: string, holder: string, ttl: number) => store.acquireLease(id, holder, ttl),
      releaseLease: (id: string, holder: string) => store.releaseLease(id, holder),
      findToken: async (p: PartialToken) => {
        const stale = await store.findToken(p);
        await store.saveToken({ id: token.id, accessToken: "other-process-access", expiresAt: NOW + 3_600_000, refreshToken: "rotated-refresh-token" });
        return stale;
      },
    };
    const m = manager({ store: racing });
    expect(m.coordinatesAcrossProcesses).toBe(true);
    expect(await m.getAccessToken(USER)).toBe("other-process-access");
    expect(endpoint.requests).toHaveLength(0);
  });

  test("a live holder keeps its lease while a slow store saves: the waiting manager never refreshes a second time", async () => {
    await seed();
    let n = 0;
    endpoint.handler = () => ({ body: { access_token: `access-${++n}`, refresh_token: `refresh-${n}`, expires_in: 3600 } });
    // Saves take three lease lengths; without renewal the lease would lapse under the live holder.
    const slow = {
      ...delegate(store),
      acquireLease: (id: string, holder: string, ttl: number) => store.acquireLease(id, holder, ttl),
      releaseLease: (id: string, holder: string) => store.releaseLease(id, holder),
      saveToken: async (t: PartialToken) => (await sleep(900), store.saveToken(t)),
    };
    const options = { store: slow, leaseTtlMs: 300, refreshTimeoutMs: 200, pollIntervalMs: 10 };
    const first = manager(options).getAccessToken(USER);
    await sleep(50);
    const second = manager(options).getAccessToken(USER);
    expect(await Promise.all([first, second])).toEqual(["access-1", "access-1"]);
    expect(endpoint.requests).toHaveLength(1);
  });

  test("a store without leases: single flight within the process only, and the manager says so", async () => {
    await seed();
    const plain = delegate(store);
    endpoint.handler = () => ({ body: { access_token: "new-access", expires_in: 3600 }, delayMs: 50 });
    const m = manager({ store: plain });
    expect(m.coordinatesAcrossProcesses).toBe(false);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => m.getAccessToken(USER)));
    expect(new Set(tokens)).toEqual(new Set(["new-access"]));
    expect(endpoint.requests).toHaveLength(1);
  });

  test("bad options are refused", () => {
    expect(() => createTokenManager({ store } as TokenManagerOptions)).toThrow(/refresher/);
    expect(() => createTokenManager({ store, refresher: async () => ({ accessToken: "a", expiresAt: NOW }), leaseTtlMs: 1000, refreshTimeoutMs: 2000 })).toThrow(/refreshTimeoutMs/);
    expect(() => createTokenManager({ store, oauth: { tokenEndpoint: "" } })).toThrow(/tokenEndpoint/);
  });
});

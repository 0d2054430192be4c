import { isTokenStoreError, type TokenStore } from "@tokenstore/core";
import { createMemoryStore } from "@tokenstore/memory";
import * as NODE_SDK from "@zohocrm/nodejs-sdk-8.0";
import * as TS_SDK from "@zohocrm/typescript-sdk-8.0";
import { beforeEach, describe, expect, it } from "vitest";
import { zohoTokenStore, type ZohoOAuthToken } from "../src/bridge.js";

// The bridge's contract with each SDK, checked with the SDK's own classes. The end-to-end
// behaviour (SDK + fake Zoho + every store) is in sdk-typescript/sdk-nodejs.test.ts.

const EXPIRY = 1_796_000_000_000;
const stored = {
  userName: "ana@example.com",
  clientId: "1000.CLIENT",
  clientSecret: "client-secret",
  refreshToken: "1000.refresh",
  accessToken: "1000.access",
  grantToken: "1000.grant",
  expiresAt: EXPIRY,
  redirectUrl: "https://app.example.com/callback",
  apiDomain: "https://www.zohoapis.com",
};

function fields(token: ZohoOAuthToken) {
  return {
    id: token.getId(),
    user: token.getUserSignature()?.getName(),
    clientId: token.getClientId(),
    clientSecret: token.getClientSecret(),
    refreshToken: token.getRefreshToken(),
    accessToken: token.getAccessToken(),
    grantToken: token.getGrantToken(),
    expiresIn: token.getExpiresIn(),
    redirectURL: token.getRedirectURL(),
    apiDomain: token.getAPIDomain(),
  };
}

const storedFields = {
  id: "1",
  user: stored.userName,
  clientId: stored.clientId,
  clientSecret: stored.clientSecret,
  refreshToken: stored.refreshToken,
  accessToken: stored.accessToken,
  grantToken: stored.grantToken,
  expiresIn: String(EXPIRY),
  redirectURL: stored.redirectUrl,
  apiDomain: stored.apiDomain,
};

for (const [name, sdk] of [
  ["typescript", TS_SDK],
  ["nodejs", NODE_SDK],
] as const) {
  describe(`zohoTokenStore with Zoho's ${name} SDK classes`, () => {
    let store: TokenStore;
    let bridge: ReturnType<typeof zohoTokenStore>;
    const OAuthToken = sdk.OAuthToken as new (...args: unknown[]) => ZohoOAuthToken;
    const signature = (n: string) => new sdk.UserSignature(n);
    /** As the app builds it: OAuthBuilder with the user's signature and client credentials. */
    const userToken = (user = stored.userName, clientId = stored.clientId) =>
      new sdk.OAuthBuilder().clientId(clientId).clientSecret(stored.clientSecret).userSignature(signature(user)).build() as ZohoOAuthToken;

    beforeEach(() => {
      store = createMemoryStore();
      bridge = zohoTokenStore(store, sdk);
    });

    it("findToken fills the SDK's own token object from the stored token and returns that same object", async () => {
      await store.saveToken(stored);
      const token = userToken();
      token.setAccessToken("1000.newer-access"); // set on the token: kept, as Zoho's merge does
      const found = await bridge.findToken(token);
      expect(found).toBe(token);
      expect(fields(token)).toEqual({ ...storedFields, accessToken: "1000.newer-access" });
      expect(token.getUserSignature()).toBeInstanceOf(sdk.UserSignature);
      expect(await store.findTokenById("1")).toMatchObject({ accessToken: stored.accessToken }); // find never writes
    });

    it("findToken returns null and leaves the token alone when nothing matches", async () => {
      await store.saveToken(stored);
      for (const token of [userToken("bo@example.com"), userToken(stored.userName, "1000.OTHER-CLIENT")]) {
        const before = fields(token);
        expect(await bridge.findToken(token)).toBeNull();
        expect(fields(token)).toEqual(before);
      }
    });

    it("findToken uses TokenStore's rules: grant, then refresh token (with client credentials), access token alone", async () => {
      await store.saveToken(stored);
      const byGrant = new sdk.OAuthBuilder().clientId(stored.clientId).clientSecret(stored.clientSecret).grantToken(stored.grantToken).build();
      expect(fields((await bridge.findToken(byGrant))!)).toEqual(storedFields);
      const byRefresh = new sdk.OAuthBuilder().clientId(stored.clientId).clientSecret(stored.clientSecret).refreshToken(stored.refreshToken).build();
      expect(fields((await bridge.findToken(byRefresh))!)).toEqual(storedFields);
      const byAccess = new sdk.OAuthBuilder().accessToken(stored.accessToken).build();
      expect(fields((await bridge.findToken(byAccess))!)).toMatchObject({ id: "1", user: stored.userName, accessToken: stored.accessToken });
    });

    it('treats "" (what the TS SDK\'s own stores merge in) as absent: never a key, never written', async () => {
      await store.saveToken(stored);
      const token = userToken();
      token.setClientId("");
      token.setClientSecret("");
      token.setGrantToken("");
      expect(await bridge.findToken(token)).toBe(token); // by user alone, as if no client id were given
      expect(token.getClientId()).toBe(stored.clientId); // "" is filled like null
      const blank = new OAuthToken();
      blank.setUserSignature(signature(""));
      blank.setAccessToken("");
      expect(await bridge.findToken(blank)).toBeNull();

      const update = userToken();
      update.setId("1");
      update.setRedirectURL("");
      update.setAPIDomain("");
      await bridge.saveToken(update);
      expect(await store.findTokenById("1")).toMatchObject({ redirectUrl: stored.redirectUrl, apiDomain: stored.apiDomain });
    });

    it("findTokenById returns a new OAuthToken of the SDK, and throws the SDK's SDKException for an unknown id", async () => {
      await store.saveToken(stored);
      const token = await bridge.findTokenById("1");
      expect(token).toBeInstanceOf(sdk.OAuthToken);
      expect(fields(token)).toEqual(storedFields);
      expect(await bridge.findTokenById("1")).not.toBe(token);

      const error = await bridge.findTokenById("42").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(sdk.SDKException);
      expect(error).toMatchObject({ code: "TOKEN_STORE", message: expect.stringContaining('"42"') });
      await expect(bridge.findTokenById("")).rejects.toBeInstanceOf(sdk.SDKException);
    });

    it("without SDKException, an unknown id throws NOT_FOUND", async () => {
      const plain = zohoTokenStore(store, { OAuthToken: sdk.OAuthToken, UserSignature: sdk.UserSignature });
      const error = await plain.findTokenById("7").catch((e: unknown) => e);
      expect(isTokenStoreError(error, "NOT_FOUND")).toBe(true);
    });

    it("saveToken writes the assigned id (and stored values it lacked) back onto the SDK's token; saving again updates", async () => {
      const token = new sdk.OAuthBuilder().clientId(stored.clientId).clientSecret(stored.clientSecret).grantToken(stored.grantToken).build() as ZohoOAuthToken;
      token.setAccessToken(stored.accessToken);
      token.setRefreshToken(stored.refreshToken);
      token.setExpiresIn(String(EXPIRY));
      token.setUserSignature(signature(stored.userName));
      token.setAPIDomain(stored.apiDomain);
      await bridge.saveToken(token);
      expect(token.getId()).toBe("1");
      expect(await store.getTokens()).toEqual([{ id: "1", ...stored, redirectUrl: null }]);

      token.setAccessToken("1000.access-2");
      token.setExpiresIn(String(EXPIRY + 3_600_000));
      await bridge.saveToken(token);
      expect(await store.getTokens()).toEqual([{ id: "1", ...stored, redirectUrl: null, accessToken: "1000.access-2", expiresAt: EXPIRY + 3_600_000 }]);

      // A token with only the user (a restart) fills in what the store holds when it saves.
      const restarted = userToken();
      await bridge.saveToken(restarted);
      expect(fields(restarted)).toMatchObject({ id: "1", accessToken: "1000.access-2", refreshToken: stored.refreshToken, apiDomain: stored.apiDomain });
      expect(await store.getTokens()).toHaveLength(1);
    });

    it("saveToken refuses an expiry that is not epoch milliseconds, and tokens of another SDK", async () => {
      const token = userToken();
      token.setAccessToken("1000.a");
      token.setExpiresIn("3600");
      await expect(bridge.saveToken(token)).rejects.toMatchObject({ code: "INVALID_TOKEN" });
      token.setExpiresIn("soon");
      await expect(bridge.saveToken(token)).rejects.toMatchObject({ code: "INVALID_TOKEN" });

      const other = name === "typescript" ? NODE_SDK : TS_SDK;
      const foreign = new other.OAuthBuilder().userSignature(new other.UserSignature("ana@example.com")).build();
      await expect(bridge.findToken(foreign)).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
      await expect(bridge.saveToken(foreign)).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
      expect(await store.getTokens()).toEqual([]);
    });

    it("getTokens returns [] when empty and new OAuthTokens ordered by id; deleteToken ignores an unknown id; deleteTokens empties", async () => {
      expect(await bridge.getTokens()).toEqual([]);
      await store.saveToken(stored);
      await store.saveToken({ ...stored, id: "10", userName: "bo@example.com", refreshToken: "r2", accessToken: "a2", grantToken: null });
      await store.saveToken({ ...stored, id: "2", userName: "cy@example.com", refreshToken: "r3", accessToken: "a3", grantToken: null });
      const tokens = await bridge.getTokens();
      expect(tokens.map((t) => t.getId())).toEqual(["1", "2", "10"]);
      expect(tokens.every((t) => t instanceof sdk.OAuthToken)).toBe(true);
      expect(fields(tokens[0]!)).toEqual(storedFields);

      await expect(bridge.deleteToken("99")).resolves.toBeUndefined();
      await bridge.deleteToken("2");
      expect((await bridge.getTokens()).map((t) => t.getId())).toEqual(["1", "10"]);
      await bridge.deleteTokens();
      expect(await store.getTokens()).toEqual([]);
    });

    it("a failing store reaches the app as the SDK's SDKException caused by our TokenStoreError, with no secret in it", async () => {
      await store.saveToken(stored);
      await store.close();
      sdk.Initializer.LOCAL.clear();
      const token = new sdk.OAuthBuilder().clientId(stored.clientId).clientSecret(stored.clientSecret).refreshToken(stored.refreshToken).build();
      const environment = new sdk.Environment("http://127.0.0.1:9", "http://127.0.0.1:9/oauth/v2/token", "http://127.0.0.1:9");
      const builder = (await new sdk.InitializeBuilder()).environment(environment).token(token).store(bridge);
      const error = await builder.initialize().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(sdk.SDKException);
      expect(isTokenStoreError((error as { cause?: unknown }).cause, "STORE_CLOSED")).toBe(true);
      expect(String((error as Error).message)).not.toContain(stored.refreshToken);
    });

    it("is accepted by the SDK's InitializeBuilder.store() and never closes the TokenStore", async () => {
      const builder = await new sdk.InitializeBuilder();
      expect(() => builder.store(bridge)).not.toThrow();
      expect(bridge.tokenStore).toBe(store);
      await store.saveToken(stored);
      expect(await store.getTokens()).toHaveLength(1);
    });
  });
}

describe("zohoTokenStore arguments", () => {
  it("inherits from the Node.js SDK's TokenStore, which its InitializeBuilder requires", () => {
    expect(zohoTokenStore(createMemoryStore(), NODE_SDK)).toBeInstanceOf(NODE_SDK.TokenStore.TokenStore);
  });

  it("types: the bridge is what the TypeScript SDK's InitializeBuilder.store() accepts", () => {
    const builder: TS_SDK.InitializeBuilder = new TS_SDK.InitializeBuilder().store(zohoTokenStore(createMemoryStore(), TS_SDK));
    expect(builder).toBeInstanceOf(TS_SDK.InitializeBuilder);
  });

  it("refuses what is not a TokenStore or not a Zoho SDK, with INVALID_OPTIONS", () => {
    expect(() => zohoTokenStore({} as TokenStore, TS_SDK)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    expect(() => zohoTokenStore(createMemoryStore(), {} as never)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    expect(() => zohoTokenStore(createMemoryStore(), null as never)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });

  it("accepts an ESM namespace whose exports sit on default (CJS interop)", () => {
    const bridge = zohoTokenStore(createMemoryStore(), { default: TS_SDK } as never);
    expect(typeof bridge.findToken).toBe("function");
  });
});

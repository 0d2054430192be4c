import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenStore } from "@tokenstore/core";
import { zohoTokenStore, type ZohoOAuthToken } from "../src/bridge.js";
import type { FakeUser, FakeZoho } from "./fake-zoho.js";

/**
 * Drives one of Zoho's real SDKs (TypeScript 8.0 or Node.js 8.0) the way an app does, against
 * the fake Zoho server. Both SDKs share this API; only the builder's construction differs
 * (the Node.js SDK's constructor returns a Promise, the TypeScript one does not, and
 * `await` handles both).
 */
export interface SdkHarness {
  name: "typescript" | "nodejs";
  /** The SDK module, as apps import it: `import * as ZOHOCRMSDK from "@zohocrm/..."`. */
  sdk: any;
  /**
   * A new process boots: the SDK's global state is cleared (as in a fresh process), then it is
   * initialized with this token and the store behind a new bridge.
   */
  boot(token: ZohoOAuthToken, store: TokenStore, environment?: unknown): Promise<void>;
  /** Another `initialize` in the same process (Zoho keeps one Initializer per user). */
  initialize(token: ZohoOAuthToken, store: TokenStore, environment?: unknown): Promise<void>;
  /** Zoho's switchUser for the current store (TypeScript SDK only: the Node.js SDK does not await its token). */
  switchUser: ((token: ZohoOAuthToken) => Promise<void>) | null;
  /** The fake server as the SDK's environment: API and accounts URLs on 127.0.0.1. */
  environment(): unknown;
  /** A token as the app first builds it: client credentials + a grant code (+ the user's signature if given). */
  grantToken(user: FakeUser, grantCode: string, signature?: string): ZohoOAuthToken;
  /** A token as a restarted app builds it: client credentials + the user's signature only. */
  userToken(user: FakeUser, signature: string): ZohoOAuthToken;
  /** One CRM API call (GET /crm/v8/org) as the current user; resolves with the HTTP status. */
  callApi(): Promise<number>;
  /** Removes the SDK's resource directory. */
  dispose(): Promise<void>;
}

export function sdkHarness(name: SdkHarness["name"], sdk: any, fake: FakeZoho): SdkHarness {
  const resourcePath = mkdtempSync(join(tmpdir(), `tokenstore-zoho-${name}-`));
  const environment = () => new sdk.Environment(fake.url, fake.accountsUrl, fake.url);
  const builder = async () => await new sdk.InitializeBuilder();
  const config = () => new sdk.SDKConfigBuilder().build();
  const initialize: SdkHarness["initialize"] = async (token, store, env = environment()) => {
    await (await builder()).environment(env).token(token).store(zohoTokenStore(store, sdk)).SDKConfig(config()).resourcePath(resourcePath).initialize();
  };
  const oauth = (user: FakeUser) => new sdk.OAuthBuilder().clientId(user.clientId).clientSecret(user.clientSecret);
  return {
    name,
    sdk,
    environment,
    initialize,
    async boot(token, store, env) {
      // Zoho keeps its Initializers in statics (Initializer.initializer and the per-user LOCAL map).
      sdk.Initializer.LOCAL.clear();
      sdk.Initializer.initializer = undefined;
      await initialize(token, store, env);
    },
    switchUser:
      name === "typescript"
        ? async (token) => {
            await (await builder()).environment(environment()).token(token).SDKConfig(config()).switchUser();
          }
        : null,
    grantToken(user, grantCode, signature) {
      const b = oauth(user).grantToken(grantCode);
      return (signature === undefined ? b : b.userSignature(new sdk.UserSignature(signature))).build();
    },
    userToken(user, signature) {
      return oauth(user).userSignature(new sdk.UserSignature(signature)).build();
    },
    dispose: () => rm(resourcePath, { recursive: true, force: true }),
    async callApi() {
      const response = await new sdk.Org.OrgOperations().getOrganization();
      return response.getStatusCode();
    },
  };
}

/** A user of a fresh app (client), or of the given user's app; random so tests never share tokens. */
export function newUser(name = "user", sameAppAs?: FakeUser): FakeUser {
  const tag = randomBytes(4).toString("hex");
  const client = sameAppAs ?? { clientId: `1000.${randomBytes(8).toString("hex").toUpperCase()}`, clientSecret: randomBytes(12).toString("hex") };
  return { email: `${name}.${tag}@example.com`, clientId: client.clientId, clientSecret: client.clientSecret };
}

import { TokenStoreError, type PartialToken, type Token, type TokenStore } from "@tokenstore/core";

/** What the bridge uses of Zoho's `OAuthToken` (the same accessors in the TypeScript and Node.js SDKs 8.0). */
export interface ZohoOAuthToken {
  getId(): string | null | undefined;
  setId(id: string | null): void;
  getUserSignature(): ZohoUserSignature | null | undefined;
  setUserSignature(userSignature: ZohoUserSignature | null): void;
  getClientId(): string | null | undefined;
  setClientId(clientId: string | null): void;
  getClientSecret(): string | null | undefined;
  setClientSecret(clientSecret: string | null): void;
  getRefreshToken(): string | null | undefined;
  setRefreshToken(refreshToken: string | null): void;
  getAccessToken(): string | null | undefined;
  setAccessToken(accessToken: string | null): void;
  getGrantToken(): string | null | undefined;
  setGrantToken(grantToken: string | null): void;
  /** Absolute expiry in epoch milliseconds, as a decimal string. */
  getExpiresIn(): string | null | undefined;
  setExpiresIn(expiresIn: string): void;
  getRedirectURL(): string | null | undefined;
  setRedirectURL(redirectURL: string | null): void;
  getAPIDomain(): string | null | undefined;
  setAPIDomain(apiDomain: string | null): void;
}

/** Zoho's `UserSignature`: the user's email (SDK 8.0's own lookup names it "<email>:<org zgid>"). */
export interface ZohoUserSignature {
  getName(): string | null | undefined;
}

/**
 * The classes the bridge needs from the Zoho SDK the app uses: simply pass the SDK module
 * (`import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0"` or `"@zohocrm/nodejs-sdk-8.0"`).
 * They must be the app's own classes because the SDK checks `instanceof OAuthToken`
 * (TS SDK `oauth_token.ts` getToken) and, in the Node.js SDK, `store instanceof TokenStore`
 * (`initialize_builder.js` store()).
 */
export interface ZohoSdk<T extends ZohoOAuthToken = ZohoOAuthToken> {
  OAuthToken: new (...args: any[]) => T;
  UserSignature: new (name: string) => ZohoUserSignature;
  /** Thrown by `findTokenById` for an unknown id, as Zoho's own stores do. */
  SDKException?: new (code: string | null, message: string | null, details?: any, cause?: any) => object;
  /** Node.js SDK: `{ TokenStore: class }` (or the class); the bridge then inherits from it. TS SDK: types only. */
  TokenStore?: unknown;
}

/** The store object Zoho's `InitializeBuilder.store(...)` accepts, backed by a TokenStore. */
export interface ZohoTokenStoreBridge<T extends ZohoOAuthToken = ZohoOAuthToken> {
  /** The TokenStore behind the bridge. The bridge never closes it: the app does. */
  readonly tokenStore: TokenStore;
  /** Fills the fields that are empty on `token` from the stored token it refers to, and returns `token`; `null` if none. */
  findToken(token: T): Promise<T | null>;
  /** A new OAuthToken from the stored token with this id. Throws the SDK's SDKException for an unknown id. */
  findTokenById(id: string): Promise<T>;
  /** Upserts `token`, then sets the stored id (and any stored value it lacks) on `token`. */
  saveToken(token: T): Promise<void>;
  /** Deletes the token with this id; an unknown id is not an error. */
  deleteToken(id: string): Promise<void>;
  /** Every stored token as a new OAuthToken, ordered by id; `[]` when there are none. */
  getTokens(): Promise<T[]>;
  deleteTokens(): Promise<void>;
}

/**
 * Turns any TokenStore into a store for Zoho's CRM SDK 8.0 (TypeScript or Node.js):
 *
 *     new ZOHOCRMSDK.InitializeBuilder().store(zohoTokenStore(store, ZOHOCRMSDK))
 *
 * Tokens are matched with TokenStore's rules (id, else user + client id, else access token,
 * else grant then refresh token), so an app restarted with only the user signature and its
 * client credentials finds its saved token.
 */
export function zohoTokenStore<T extends ZohoOAuthToken>(store: TokenStore, sdk: ZohoSdk<T>): ZohoTokenStoreBridge<T> {
  if (store === null || typeof store !== "object" || typeof store.findToken !== "function" || typeof store.saveToken !== "function") {
    throw new TokenStoreError("INVALID_OPTIONS", "zohoTokenStore(store, sdk): store must be a TokenStore");
  }
  const classes = sdkClasses(sdk);
  const { OAuthToken, UserSignature } = classes;

  // A token of another copy of the SDK would make the SDK's own instanceof checks fail silently.
  const checkToken = (token: unknown, operation: string): void => {
    if (!(token instanceof OAuthToken)) {
      throw new TokenStoreError(
        "INVALID_OPTIONS",
        `${operation}: the token is not an OAuthToken of the Zoho SDK given to zohoTokenStore; pass the SDK module the app initialises`,
      );
    }
  };

  /** A new OAuthToken of the app's SDK, as Zoho's stores build one (constructed empty, then set). */
  const toZoho = (stored: Token): T => {
    const token = Reflect.construct(OAuthToken, []) as T;
    fillEmpty(token, stored, UserSignature);
    return token;
  };

  const bridge: ZohoTokenStoreBridge<T> = Object.create(classes.base ? classes.base.prototype : Object.prototype);
  return Object.assign(bridge, {
    tokenStore: store,

    async findToken(token: T): Promise<T | null> {
      checkToken(token, "findToken");
      const stored = await store.findToken(keysOf(token));
      if (!stored) return null;
      fillEmpty(token, stored, UserSignature);
      return token;
    },

    async findTokenById(id: string): Promise<T> {
      const stored = await store.findTokenById(idString(id));
      if (stored) return toZoho(stored);
      const message = `no stored token has the id "${String(id).slice(0, 40)}"`;
      if (classes.SDKException) throw new classes.SDKException("TOKEN_STORE", `[tokenstore] findTokenById: ${message}`);
      throw new TokenStoreError("NOT_FOUND", `findTokenById: ${message}`);
    },

    async saveToken(token: T): Promise<void> {
      checkToken(token, "saveToken");
      const saved = await store.saveToken({ ...keysOf(token), expiresAt: expiresAtOf(token), redirectUrl: text(token.getRedirectURL()), apiDomain: text(token.getAPIDomain()) });
      // Like Zoho's stores: the SDK keeps using this object, so it learns its id (and stored values it lacked).
      fillEmpty(token, saved, UserSignature);
    },

    async deleteToken(id: string): Promise<void> {
      await store.deleteToken(idString(id));
    },

    async getTokens(): Promise<T[]> {
      return (await store.getTokens()).map(toZoho);
    },

    async deleteTokens(): Promise<void> {
      await store.deleteTokens();
    },
  });
}

type Classes<T extends ZohoOAuthToken> = Required<Pick<ZohoSdk<T>, "OAuthToken" | "UserSignature">> &
  Pick<ZohoSdk<T>, "SDKException"> & { base: (abstract new () => object) | null };

function sdkClasses<T extends ZohoOAuthToken>(sdk: ZohoSdk<T>): Classes<T> {
  // An ESM namespace of the CJS TypeScript SDK may carry the exports on `default` only.
  const source = (typeof sdk?.OAuthToken === "function" ? sdk : (sdk as { default?: ZohoSdk<T> } | null)?.default) as ZohoSdk<T> | undefined;
  if (!source || typeof source.OAuthToken !== "function" || typeof source.UserSignature !== "function") {
    throw new TokenStoreError(
      "INVALID_OPTIONS",
      'zohoTokenStore(store, sdk): sdk must be the Zoho SDK module (import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0" or "@zohocrm/nodejs-sdk-8.0") or { OAuthToken, UserSignature }',
    );
  }
  const tokenStore = source.TokenStore as { TokenStore?: unknown } | (abstract new () => object) | undefined;
  const base = typeof tokenStore === "function" ? tokenStore : typeof tokenStore?.TokenStore === "function" ? (tokenStore.TokenStore as abstract new () => object) : null;
  const SDKException = typeof source.SDKException === "function" ? source.SDKException : undefined;
  return { OAuthToken: source.OAuthToken, UserSignature: source.UserSignature, SDKException, base };
}

/** Zoho leaves fields undefined, null or (TS SDK merges) "": all mean "absent" and never become keys. */
function text(value: unknown): string | null {
  if (value === undefined || value === null || value === "") return null;
  return value as string; // anything else that is not a string is rejected by the core as INVALID_TOKEN
}

function idString(id: unknown): string {
  return typeof id === "number" ? String(id) : (id as string);
}

/** The token's key fields, for a lookup (the expiry, redirect URL and API domain are not keys). */
function keysOf(token: ZohoOAuthToken): PartialToken {
  return {
    id: text(idString(token.getId())),
    userName: text(token.getUserSignature()?.getName()),
    clientId: text(token.getClientId()),
    clientSecret: text(token.getClientSecret()),
    refreshToken: text(token.getRefreshToken()),
    accessToken: text(token.getAccessToken()),
    grantToken: text(token.getGrantToken()),
  };
}

/** Zoho keeps the absolute expiry as a string of epoch milliseconds (oauth_token parseResponse). */
function expiresAtOf(token: ZohoOAuthToken): number | null {
  const value: unknown = token.getExpiresIn();
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^[0-9]{1,16}$/.test(value)) return Number(value);
  throw new TokenStoreError("INVALID_TOKEN", 'OAuthToken expiresIn must be epoch milliseconds (a string of digits)');
}

/** Zoho's merge: copies each stored value onto the token only where the token has none. */
function fillEmpty(token: ZohoOAuthToken, stored: Token, UserSignature: ZohoSdk["UserSignature"]): void {
  const empty = (value: unknown) => value === undefined || value === null || value === "";
  if (empty(token.getId())) token.setId(stored.id);
  if (empty(token.getUserSignature()?.getName()) && stored.userName !== null) token.setUserSignature(new UserSignature(stored.userName));
  if (empty(token.getClientId()) && stored.clientId !== null) token.setClientId(stored.clientId);
  if (empty(token.getClientSecret()) && stored.clientSecret !== null) token.setClientSecret(stored.clientSecret);
  if (empty(token.getRefreshToken()) && stored.refreshToken !== null) token.setRefreshToken(stored.refreshToken);
  if (empty(token.getAccessToken()) && stored.accessToken !== null) token.setAccessToken(stored.accessToken);
  if (empty(token.getGrantToken()) && stored.grantToken !== null) token.setGrantToken(stored.grantToken);
  if (empty(token.getExpiresIn()) && stored.expiresAt !== null) token.setExpiresIn(String(stored.expiresAt));
  if (empty(token.getRedirectURL()) && stored.redirectUrl !== null) token.setRedirectURL(stored.redirectUrl);
  if (empty(token.getAPIDomain()) && stored.apiDomain !== null) token.setAPIDomain(stored.apiDomain);
}

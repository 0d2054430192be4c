import type { Token } from "@tokenstore/core";
import { RefreshError, ReauthorizationRequiredError, TokenManagerError } from "./errors.js";

/** What a refresh produced. The manager saves it (merged into the stored token) before anyone uses it. */
export interface RefreshResult {
  accessToken: string;
  /**
   * Absolute expiry of the new access token in epoch milliseconds. When the provider gives no
   * lifetime, assume one (the OAuth refresher assumes `defaultExpiresInSec`).
   */
  expiresAt: number;
  /** A rotated refresh token. null/undefined keeps the stored one. */
  refreshToken?: string | null;
  /** Zoho's `api_domain`. null/undefined keeps the stored one. */
  apiDomain?: string | null;
}

export interface RefreshContext {
  /** Aborted when the refresh runs out of time (`refreshTimeoutMs`): stop and throw. */
  signal: AbortSignal;
  /** The manager's clock (epoch ms). Take it just before sending, to compute the expiry. */
  now: () => number;
}

/** Gets a new access token for a stored token. Throw `RefreshError` (with `oauthError` when the provider sent one) on failure. */
export type Refresher = (token: Token, context: RefreshContext) => Promise<RefreshResult>;

/** Tells the provider to revoke a stored token. */
export type Revoker = (token: Token, context: RefreshContext) => Promise<void>;

export type ClientAuthentication = "client_secret_basic" | "client_secret_post";

export type Endpoint = string | URL | ((token: Token) => string | URL);

export interface OAuthOptions {
  /** The token endpoint, e.g. "https://accounts.zoho.com/oauth/v2/token", or a function of the token (per data centre). */
  tokenEndpoint: Endpoint;
  /** RFC 7009 revocation endpoint; when set, `revoke()` calls it before deleting the token. */
  revocationEndpoint?: Endpoint | undefined;
  /** How the client authenticates. Default "client_secret_basic" (RFC 6749); Zoho needs "client_secret_post". */
  clientAuthentication?: ClientAuthentication | undefined;
  /** Client id; default the stored token's `clientId`. */
  clientId?: string | undefined;
  /** Client secret; default the stored token's `clientSecret`. */
  clientSecret?: string | undefined;
  /** Extra form parameters sent with every token request (e.g. `scope`, `resource`). */
  extraParams?: Record<string, string> | undefined;
  /** Lifetime assumed when the response has no `expires_in`, in seconds. Default 3600. */
  defaultExpiresInSec?: number | undefined;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch | undefined;
}

const FORM = "application/x-www-form-urlencoded";

/**
 * A standard OAuth 2.0 refresher: `grant_type=refresh_token` (or `authorization_code` for a token
 * that has only a grant token, as Zoho's SDK does). Reads `expires_in` as seconds, except when
 * Zoho's `expires_in_sec` is present (Zoho once sent `expires_in` in milliseconds beside it).
 * Any body with an `error` member is an error, whatever the HTTP status (Zoho answers 200).
 */
export function createOAuthRefresher(options: OAuthOptions): Refresher {
  const settings = checkOptions(options);
  return async (token, { signal, now }) => {
    const params = new URLSearchParams();
    if (token.refreshToken) {
      params.set("grant_type", "refresh_token");
      params.set("refresh_token", token.refreshToken);
    } else if (token.grantToken) {
      params.set("grant_type", "authorization_code");
      params.set("code", token.grantToken);
      if (token.redirectUrl) params.set("redirect_uri", token.redirectUrl);
    } else {
      throw new ReauthorizationRequiredError("the token has neither a refresh token nor a grant token to refresh with", { tokenId: token.id });
    }
    const sentAt = now();
    const { status, body } = await post(settings, settings.tokenEndpoint, token, params, signal, "token endpoint");
    const error = oauthErrorOf(body);
    if (error || status < 200 || status > 299) {
      throw new RefreshError(`token endpoint answered ${error ?? "an error"} (HTTP ${status})${describe(body, token)}`, {
        tokenId: token.id,
        oauthError: error,
        status,
      });
    }
    if (!body) throw new RefreshError(`token endpoint answered without a JSON object (HTTP ${status})`, { tokenId: token.id, status });
    const accessToken = text(body.access_token);
    if (!accessToken) throw new RefreshError(`token endpoint answered without an access_token (HTTP ${status})`, { tokenId: token.id, status });
    // expires_in_sec first: when Zoho sends it, its expires_in is in milliseconds.
    const lifetimeSec = seconds(body.expires_in_sec) ?? seconds(body.expires_in) ?? settings.defaultExpiresInSec;
    return {
      accessToken,
      expiresAt: sentAt + Math.round(lifetimeSec * 1000),
      refreshToken: text(body.refresh_token),
      apiDomain: text(body.api_domain),
    };
  };
}

/** An RFC 7009 revoker: revokes the refresh token (or, without one, the access token). */
export function createOAuthRevoker(options: OAuthOptions): Revoker | undefined {
  const settings = checkOptions(options);
  const endpoint = settings.revocationEndpoint;
  if (!endpoint) return undefined;
  return async (token, { signal }) => {
    const value = token.refreshToken ?? token.accessToken;
    if (!value) return;
    const params = new URLSearchParams({ token: value, token_type_hint: token.refreshToken ? "refresh_token" : "access_token" });
    let answer: { status: number; body: Record<string, unknown> | null };
    try {
      answer = await post(settings, endpoint, token, params, signal, "revocation endpoint");
    } catch (error) {
      throw new TokenManagerError("REVOCATION_FAILED", errorMessage(error), { tokenId: token.id, cause: error });
    }
    const error = oauthErrorOf(answer.body);
    if (error || answer.status < 200 || answer.status > 299) {
      throw new TokenManagerError("REVOCATION_FAILED", `revocation endpoint answered ${error ?? "an error"} (HTTP ${answer.status})`, {
        tokenId: token.id,
        oauthError: error,
        status: answer.status,
      });
    }
  };
}

interface Settings {
  tokenEndpoint: Endpoint;
  revocationEndpoint: Endpoint | undefined;
  clientAuthentication: ClientAuthentication;
  clientId: string | undefined;
  clientSecret: string | undefined;
  extraParams: Record<string, string>;
  defaultExpiresInSec: number;
  fetch: typeof fetch;
}

function checkOptions(options: OAuthOptions): Settings {
  const invalid = (message: string) => new TokenManagerError("INVALID_OPTIONS", message);
  if (!options || !options.tokenEndpoint) throw invalid("oauth.tokenEndpoint is required");
  const clientAuthentication = options.clientAuthentication ?? "client_secret_basic";
  if (clientAuthentication !== "client_secret_basic" && clientAuthentication !== "client_secret_post") {
    throw invalid(`oauth.clientAuthentication must be "client_secret_basic" or "client_secret_post"`);
  }
  const defaultExpiresInSec = options.defaultExpiresInSec ?? 3600;
  if (!(defaultExpiresInSec > 0)) throw invalid("oauth.defaultExpiresInSec must be a positive number");
  return {
    tokenEndpoint: options.tokenEndpoint,
    revocationEndpoint: options.revocationEndpoint,
    clientAuthentication,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    extraParams: { ...options.extraParams },
    defaultExpiresInSec,
    fetch: options.fetch ?? globalThis.fetch,
  };
}

async function post(
  settings: Settings,
  endpoint: Endpoint,
  token: Token,
  params: URLSearchParams,
  signal: AbortSignal,
  what: string,
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const clientId = settings.clientId ?? token.clientId;
  const clientSecret = settings.clientSecret ?? token.clientSecret;
  if (!clientId) throw new RefreshError("no client id: set oauth.clientId or store the token's clientId", { tokenId: token.id });
  for (const [name, value] of Object.entries(settings.extraParams)) params.set(name, value);
  const headers: Record<string, string> = { "content-type": FORM, accept: "application/json" };
  if (settings.clientAuthentication === "client_secret_basic") {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret ?? "")}`).toString("base64")}`;
  } else {
    params.set("client_id", clientId);
    if (clientSecret) params.set("client_secret", clientSecret);
  }
  const url = typeof endpoint === "function" ? endpoint(token) : endpoint;
  let response: Response;
  let raw: string;
  try {
    response = await settings.fetch(url, { method: "POST", headers, body: params.toString(), signal, redirect: "error" });
    raw = await response.text();
  } catch (error) {
    if (signal.aborted) throw new TokenManagerError("REFRESH_TIMEOUT", `${what} did not answer in time`, { tokenId: token.id });
    // fetch's errors name the address and the network code, never the request body.
    throw new RefreshError(`${what} unreachable (${errorMessage(error)})`, { tokenId: token.id, cause: error });
  }
  let body: unknown = null;
  try {
    body = raw ? JSON.parse(raw) : null;
  } catch {
    body = null;
  }
  return { status: response.status, body: body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : null };
}

function formEncode(value: string): string {
  return new URLSearchParams([["", value]]).toString().slice(1);
}

function oauthErrorOf(body: Record<string, unknown> | null): string | undefined {
  const error = body?.error;
  if (typeof error === "string" && error !== "") return safeCode(error);
  return undefined;
}

/** OAuth error codes are short ASCII words; anything else is not echoed. */
function safeCode(value: string): string {
  return /^[\x20-\x7e]{1,64}$/.test(value) && !/\s/.test(value) ? value : "an unrecognised error";
}

/** The provider's error_description, only when it is short and contains none of the token's secrets. */
function describe(body: Record<string, unknown> | null, token: Token): string {
  const description = body?.error_description;
  if (typeof description !== "string" || description === "" || description.length > 200 || !/^[\x20-\x7e]+$/.test(description)) return "";
  const secrets = [token.refreshToken, token.accessToken, token.grantToken, token.clientSecret].filter((s): s is string => !!s && s.length >= 4);
  return secrets.some((s) => description.includes(s)) ? "" : `: ${description}`;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function seconds(value: unknown): number | null {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}

function errorMessage(error: unknown): string {
  if (error instanceof TokenManagerError) return error.message;
  const parts: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 3; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === "string" ? `${e.message} [${code}]` : e.message);
  }
  return parts.join(": ") || "unknown error";
}

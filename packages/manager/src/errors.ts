/** Stable error codes of the token manager. Match on `error.code`, never on the message. */
export type TokenManagerErrorCode =
  /** No stored token matches the partial token (or it was deleted meanwhile). */
  | "TOKEN_NOT_FOUND"
  /** The provider rejected the refresh token (e.g. `invalid_grant`), or there is none: the user must authorise the app again. The stored token is kept. */
  | "REAUTHORIZATION_REQUIRED"
  /** The refresh failed for another reason (network, HTTP 5xx, an error body, a response without access token). Retrying later may work. */
  | "REFRESH_FAILED"
  /** The refresh, or the wait for another process's refresh, took longer than allowed. */
  | "REFRESH_TIMEOUT"
  /** The provider's revocation endpoint refused or could not be reached; the token was not deleted. */
  | "REVOCATION_FAILED"
  /** The manager's options are invalid. */
  | "INVALID_OPTIONS";

export interface TokenManagerErrorOptions {
  cause?: unknown;
  /** The stored token's id, when known. Ids are not secrets. */
  tokenId?: string | undefined;
  /** The OAuth `error` code the provider answered with, e.g. "invalid_grant". */
  oauthError?: string | undefined;
  /** The HTTP status of the provider's answer. */
  status?: number | undefined;
}

/**
 * The error type of the token manager. Its message never contains token values or secrets:
 * only ids, OAuth error codes, HTTP statuses and field names.
 */
export class TokenManagerError extends Error {
  override name = "TokenManagerError";
  readonly code: TokenManagerErrorCode;
  readonly tokenId: string | undefined;
  readonly oauthError: string | undefined;
  readonly status: number | undefined;

  constructor(code: TokenManagerErrorCode, message: string, options: TokenManagerErrorOptions = {}) {
    super(`[tokenstore:manager] ${options.tokenId ? `token "${options.tokenId}": ` : ""}${message}`, { cause: options.cause });
    this.code = code;
    this.tokenId = options.tokenId;
    this.oauthError = options.oauthError;
    this.status = options.status;
  }
}

/** The refresh failed; `oauthError` and `status` say how the provider answered, when it did. */
export class RefreshError extends TokenManagerError {
  override name = "RefreshError";
  constructor(message: string, options: TokenManagerErrorOptions = {}) {
    super("REFRESH_FAILED", message, options);
  }
}

/**
 * The user must authorise the app again: the provider rejected the refresh token (after the
 * manager re-read the store in case another process had rotated it), or there is no refresh
 * token. The stored token is kept, so the app can inspect it or overwrite it after consent.
 */
export class ReauthorizationRequiredError extends TokenManagerError {
  override name = "ReauthorizationRequiredError";
  constructor(message: string, options: TokenManagerErrorOptions = {}) {
    super("REAUTHORIZATION_REQUIRED", message, options);
  }
}

export function isTokenManagerError(error: unknown, code?: TokenManagerErrorCode): error is TokenManagerError {
  return error instanceof TokenManagerError && (code === undefined || error.code === code);
}

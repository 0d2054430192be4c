/** Stable error codes. Match on `error.code`, never on the message. */
export type TokenStoreErrorCode =
  /** The token (or partial token) is not a valid token: wrong type, unknown field, bad expiry. */
  | "INVALID_TOKEN"
  /** The token carries no key the matching rules can use, so it cannot be saved. */
  | "NO_KEY"
  /** Saving would give this token a key (user + client, access, grant or refresh token) that another stored token holds. */
  | "CONFLICT"
  /** The named token does not exist (leases, and Zoho compatibility where Zoho throws). */
  | "NOT_FOUND"
  /** The backend cannot be reached, or did not answer in time. Retrying later may work. */
  | "BACKEND_UNAVAILABLE"
  /** The backend answered with an error that is not about reachability. */
  | "BACKEND_ERROR"
  /** Stored data cannot be read as tokens. Nothing was changed. */
  | "CORRUPT_DATA"
  /** The store was closed. */
  | "STORE_CLOSED"
  /** The store's options or URL are invalid. */
  | "INVALID_OPTIONS"
  /** The store does not offer this optional capability. */
  | "UNSUPPORTED";

export interface TokenStoreErrorOptions {
  /** The underlying error. Adapters pass only causes that cannot contain token values. */
  cause?: unknown;
  /** Which store raised it, e.g. "postgres". */
  store?: string;
}

/**
 * The one error type every TokenStore package throws. Its message never contains token values
 * or secrets: only field names, ids, store names and the backend's own error codes.
 */
export class TokenStoreError extends Error {
  override readonly name = "TokenStoreError";
  readonly code: TokenStoreErrorCode;
  readonly store: string | undefined;

  constructor(code: TokenStoreErrorCode, message: string, options: TokenStoreErrorOptions = {}) {
    super(`[tokenstore${options.store ? `:${options.store}` : ""}] ${message}`, { cause: options.cause });
    this.code = code;
    this.store = options.store;
  }
}

export function isTokenStoreError(error: unknown, code?: TokenStoreErrorCode): error is TokenStoreError {
  return error instanceof TokenStoreError && (code === undefined || error.code === code);
}

/** Error codes of Node's network layer that mean "the server is not there (right now)". */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ECONNABORTED",
  "PROTOCOL_CONNECTION_LOST",
  "ER_CON_COUNT_ERROR",
  "CONNECTION_TIMEOUT",
]);

/** True when an error (or one of its causes) says the backend is unreachable. */
export function isUnreachableError(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNREACHABLE_CODES.has(code)) return true;
    if (e instanceof AggregateError && e.errors.some(isUnreachableError)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A short description of a driver error that is safe to put in a message: its code, and its
 * message only for network errors (those carry addresses, never data).
 */
export function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return typeof error === "string" ? "unknown error" : String(typeof error);
  const code = (error as { code?: unknown }).code;
  if (isUnreachableError(error)) return error.message || String(code ?? error.name);
  return typeof code === "string" || typeof code === "number" ? `${error.name} ${code}` : error.name;
}

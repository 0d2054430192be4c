import { TokenStoreError } from "./errors.js";

/** Every field of a token, in Zoho's column order. */
export const TOKEN_FIELDS = [
  "id",
  "userName",
  "clientId",
  "clientSecret",
  "refreshToken",
  "accessToken",
  "grantToken",
  "expiresAt",
  "redirectUrl",
  "apiDomain",
] as const;

export type TokenField = (typeof TOKEN_FIELDS)[number];

/** Fields whose values are secrets: never printed, logged or put in an error message. */
export const SECRET_FIELDS = ["clientSecret", "refreshToken", "accessToken", "grantToken"] as const;

/** A stored token: every field present, absent values are `null`. */
export interface Token {
  /** Store-generated decimal string ("1", "2", …), or the id the token was imported with. */
  id: string;
  /** The user signature; Zoho uses the user's email. Compared exactly (case and spaces count). */
  userName: string | null;
  clientId: string | null;
  clientSecret: string | null;
  refreshToken: string | null;
  accessToken: string | null;
  grantToken: string | null;
  /** Absolute expiry of the access token, in epoch milliseconds. */
  expiresAt: number | null;
  redirectUrl: string | null;
  apiDomain: string | null;
}

/** What callers pass to `findToken` and `saveToken`: any subset of the fields. */
export type PartialToken = { [K in TokenField]?: Token[K] | null | undefined };

/** A token's fields without its id: what a save writes. `null` means "keep the stored value". */
export type TokenValues = Omit<Token, "id">;

export const REDACTED = "[redacted]";

const STRING_FIELDS = TOKEN_FIELDS.filter((f) => f !== "expiresAt");
const FIELD_SET = new Set<string>(TOKEN_FIELDS);
const SECRET_SET = new Set<string>(SECRET_FIELDS);

/**
 * Expiries below this (March 1973 in milliseconds) are almost surely seconds. Zoho and most
 * OAuth libraries have shipped that bug; we refuse it rather than store a token that looks expired.
 */
const SMALLEST_EPOCH_MS = 100_000_000_000;
/** The latest instant a JavaScript Date can hold (year 275760). */
const LARGEST_EPOCH_MS = 8_640_000_000_000_000;

/** Longest id a store must keep (Zoho's own ids are at most 10 characters, legacy ones ~100). */
export const MAX_ID_LENGTH = 255;

/**
 * Ids that move a store's id counter: decimal, no leading zero, at most 15 digits (exact as a
 * JavaScript number). Other given ids, like Zoho's legacy "nodejs_…" ones or longer numbers, are
 * kept as they are and leave the counter alone, so generated ids never collide with them.
 */
export const COUNTER_ID = /^[1-9][0-9]{0,14}$/;

function invalid(message: string, store?: string): TokenStoreError {
  return new TokenStoreError("INVALID_TOKEN", message, { store });
}

/**
 * Checks a caller's token and returns it normalised: every field present, `undefined` → `null`.
 * Throws INVALID_TOKEN for anything that is not a token. Never echoes values.
 */
export function normalizeToken(input: unknown): { [K in TokenField]: Token[K] | null } {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw invalid(`a token must be an object, got ${input === null ? "null" : Array.isArray(input) ? "an array" : typeof input}`);
  }
  for (const key of Object.keys(input)) {
    if (!FIELD_SET.has(key)) throw invalid(`unknown token field "${key.slice(0, 40)}"; fields are ${TOKEN_FIELDS.join(", ")}`);
  }
  const source = input as Record<string, unknown>;
  const out = {} as Record<TokenField, string | number | null>;
  for (const field of STRING_FIELDS) {
    const value = source[field];
    if (value === undefined || value === null) out[field] = null;
    else if (typeof value === "string") out[field] = checkString(field, value);
    else throw invalid(`token field "${field}" must be a string or null, got ${typeof value}`);
  }
  out.expiresAt = checkExpiresAt(source.expiresAt);
  if (typeof out.id === "string" && out.id.length > MAX_ID_LENGTH) throw invalid(`token field "id" is longer than ${MAX_ID_LENGTH} characters`);
  return out as { [K in TokenField]: Token[K] | null };
}

/** Backends store UTF-8 text: a NUL or a lone surrogate cannot be kept faithfully everywhere. */
function checkString(field: string, value: string): string {
  if (value.includes("\0")) throw invalid(`token field "${field}" contains a NUL character`);
  if (!value.isWellFormed()) throw invalid(`token field "${field}" is not well-formed Unicode (lone surrogate)`);
  return value;
}

function checkExpiresAt(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`token field "expiresAt" must be epoch milliseconds (a non-negative integer) or null`);
  }
  if (value !== 0 && value < SMALLEST_EPOCH_MS) {
    throw invalid(`token field "expiresAt" looks like seconds, not epoch milliseconds`);
  }
  if (value > LARGEST_EPOCH_MS) throw invalid(`token field "expiresAt" is beyond the latest date JavaScript can represent`);
  return value === 0 ? 0 : value; // never -0
}

/**
 * Turns a stored record into the token handed to callers: plain data whose `toJSON` and
 * `console.log` redact the secrets. Throws CORRUPT_DATA for a record that is not a token.
 */
export function toToken(record: Record<TokenField, unknown>, store?: string): Token {
  const token = {} as Record<string, unknown>;
  for (const field of TOKEN_FIELDS) {
    const value = record[field] ?? null;
    const ok =
      field === "expiresAt"
        ? value === null || (typeof value === "number" && Number.isSafeInteger(value))
        : field === "id"
          ? typeof value === "string" && value !== ""
          : value === null || typeof value === "string";
    if (!ok) throw new TokenStoreError("CORRUPT_DATA", `stored token has an invalid "${field}"`, { store });
    token[field] = value;
  }
  Object.defineProperties(token, {
    toJSON: { value: redactedCopy, enumerable: false },
    [Symbol.for("nodejs.util.inspect.custom")]: { value: redactedCopy, enumerable: false },
  });
  return token as unknown as Token;
}

function redactedCopy(this: PartialToken) {
  return redactToken(this);
}

/** A copy with every secret replaced by "[redacted]" (nulls stay null, so presence shows). */
export function redactToken<T extends PartialToken>(token: T): T {
  const copy = {} as Record<string, unknown>;
  for (const [key, value] of Object.entries(token)) {
    copy[key] = SECRET_SET.has(key) && value !== null && value !== undefined ? REDACTED : value;
  }
  return copy as T;
}

/** The token's fields as a plain object with nothing attached (for serialising into a backend). */
export function tokenRecord(token: Token): Token {
  const record = {} as Record<string, unknown>;
  for (const field of TOKEN_FIELDS) record[field] = token[field];
  return record as unknown as Token;
}

/** Orders ids as numbers for decimal ids (shorter first, then by character): "2" < "10". */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

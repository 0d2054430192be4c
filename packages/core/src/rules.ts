import { createHash } from "node:crypto";
import { TokenStoreError } from "./errors.js";
import { type PartialToken, type Token, type TokenValues, normalizeToken } from "./token.js";

/** Fields a lookup can compare. */
export type MatchField = "id" | "userName" | "clientId" | "accessToken" | "grantToken" | "refreshToken";

/** Equalities that must all hold for a stored token to match. Never empty; no value is "". */
export type Condition = Readonly<Partial<Record<MatchField, string>>>;

/**
 * Which stored token a partial token refers to, as data every adapter translates.
 *
 * The first condition in `anyOf` that matches at least one stored token decides; when it matches
 * several (only possible for a user name without a client id), the one with the lowest id
 * (see `compareIds`) wins. Adapters may run the conditions one by one or as one query ordered by
 * condition index, then id.
 */
export interface Selector {
  readonly anyOf: readonly [Condition, ...Condition[]];
}

/** A usable key value: empty strings never match anything. */
function key(value: string | null | undefined): value is string {
  return typeof value === "string" && value !== "";
}

/**
 * The matching rules (Zoho's order, with its precedence bug fixed and clients kept apart):
 * 1. `id`, when the partial token has one;
 * 2. else `userName` (and `clientId` too, when given: one user under two clients is two tokens);
 * 3. else `accessToken`, only when there is no client id and no client secret;
 * 4. else `grantToken`, then `refreshToken`, only when client id and client secret are both present.
 * Returns null when the partial token has no usable key: it matches nothing.
 */
export function selectorFor(partial: PartialToken): Selector | null {
  if (key(partial.id)) return { anyOf: [{ id: partial.id }] };
  if (key(partial.userName)) {
    return { anyOf: [key(partial.clientId) ? { userName: partial.userName, clientId: partial.clientId } : { userName: partial.userName }] };
  }
  const hasClientId = key(partial.clientId);
  const hasClientSecret = key(partial.clientSecret);
  if (key(partial.accessToken) && !hasClientId && !hasClientSecret) return { anyOf: [{ accessToken: partial.accessToken }] };
  if (hasClientId && hasClientSecret) {
    const anyOf: Condition[] = [];
    if (key(partial.grantToken)) anyOf.push({ grantToken: partial.grantToken });
    if (key(partial.refreshToken)) anyOf.push({ refreshToken: partial.refreshToken });
    if (anyOf.length > 0) return { anyOf: anyOf as [Condition, ...Condition[]] };
  }
  return null;
}

/** True when `token` satisfies every equality of `condition`. */
export function matchesCondition(token: Token, condition: Condition): boolean {
  let any = false;
  for (const [field, value] of Object.entries(condition) as [MatchField, string][]) {
    if (!key(value) || token[field] !== value) return false;
    any = true;
  }
  return any;
}

/** What a save does, worked out once in core; adapters carry it out atomically. */
export interface SavePlan {
  /** The stored token this save updates, if one matches. */
  readonly selector: Selector;
  /** The values to write. `null` means "keep the stored value" (or null when inserting). */
  readonly values: TokenValues;
  /** The id a newly inserted token gets: the caller's, or null for a store-generated one. */
  readonly id: string | null;
}

/**
 * Checks a token for saving and works out what the save does. Throws INVALID_TOKEN for a bad
 * token and NO_KEY for one the rules cannot match (saving it would duplicate it on every save).
 */
export function planSave(input: unknown): SavePlan {
  const token = normalizeToken(input);
  const selector = selectorFor(token);
  if (!selector) {
    throw new TokenStoreError(
      "NO_KEY",
      "cannot save a token without a key: it needs an id, a userName, an accessToken (without client credentials), " +
        "or a grantToken or refreshToken with clientId and clientSecret",
    );
  }
  const { id, ...values } = token;
  return { selector, values, id: key(id) ? id : null };
}

/** The merge rule: saved values win, null/undefined keep the stored ones. */
export function mergeToken(stored: Token, values: TokenValues): Token {
  const merged = { ...stored };
  for (const [field, value] of Object.entries(values) as [keyof TokenValues, never][]) {
    if (value !== null) merged[field] = value;
  }
  return merged;
}

/** A new token from a save's values. */
export function newToken(id: string, values: TokenValues): Token {
  return { id, ...values };
}

/**
 * Keys no two stored tokens may share: the user + client pair (when there is a user name), and
 * each access, grant and refresh token. Stores enforce these (unique indexes), which is what
 * makes concurrent saves of one identity leave one token. Values are `keyDigest`s, so they fit
 * any index whatever the token's length.
 */
export interface UniqueKeys {
  /** digest of userName + clientId, or null when there is no user name. */
  identity: string | null;
  /** digest of the user name alone (for lookups without a client id), or null. */
  user: string | null;
  access: string | null;
  grant: string | null;
  refresh: string | null;
}

/** The token fields each of `UniqueKeys` is computed from (for adapters that merge keys in the backend). */
export const UNIQUE_KEY_FIELDS = {
  identity: ["userName", "clientId"],
  user: ["userName"],
  access: ["accessToken"],
  grant: ["grantToken"],
  refresh: ["refreshToken"],
} as const satisfies Record<keyof UniqueKeys, readonly (keyof TokenValues)[]>;

export function uniqueKeys(token: Pick<Token, "userName" | "clientId" | "accessToken" | "grantToken" | "refreshToken">): UniqueKeys {
  return {
    identity: key(token.userName) ? identityDigest(token.userName, token.clientId) : null,
    user: key(token.userName) ? keyDigest(token.userName) : null,
    access: key(token.accessToken) ? keyDigest(token.accessToken) : null,
    grant: key(token.grantToken) ? keyDigest(token.grantToken) : null,
    refresh: key(token.refreshToken) ? keyDigest(token.refreshToken) : null,
  };
}

/** Fixed-length digest of a key value (SHA-256, base64url, 43 characters) for indexes. */
export function keyDigest(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("base64url");
}

/** Digest of a user + client pair; an absent or empty client id is one client of its own. */
export function identityDigest(userName: string, clientId: string | null | undefined): string {
  return keyDigest(JSON.stringify([userName, key(clientId) ? clientId : null]));
}

const KEY_NAMES: Record<keyof UniqueKeys, string> = {
  identity: "user name and client id",
  user: "user name",
  access: "access token",
  grant: "grant token",
  refresh: "refresh token",
};

export function conflictError(keyName: keyof UniqueKeys | null, store?: string): TokenStoreError {
  return new TokenStoreError(
    "CONFLICT",
    `another stored token already has this ${keyName ? KEY_NAMES[keyName] : "key"}`,
    { store },
  );
}

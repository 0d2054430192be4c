import assert from "node:assert/strict";
import { inspect } from "node:util";
import {
  compareIds,
  isTokenStoreError,
  supportsLeases,
  TOKEN_FIELDS,
  type PartialToken,
  type Token,
  type TokenStore,
  type TokenStoreErrorCode,
  type LeasingTokenStore,
} from "@tokenstore/core";
import type { ConformanceGroup, ConformanceTest, TestContext } from "./types.js";

// ---------------------------------------------------------------- helpers

/** A complete token for user `n`: every field set, every value distinct. */
export function sampleToken(n: number | string, overrides: PartialToken = {}): PartialToken {
  return {
    userName: `user${n}@example.com`,
    clientId: "1000.CLIENT",
    clientSecret: `secret-${n}`,
    refreshToken: `1000.rt.${n}`,
    accessToken: `1000.at.${n}`,
    grantToken: `1000.gt.${n}`,
    expiresAt: 1_767_225_600_000 + Number.parseInt(String(n), 36),
    redirectUrl: "https://app.example.com/oauth/callback",
    apiDomain: "https://www.zohoapis.com",
    ...overrides,
  };
}

/** The token's fields as a plain object, for comparing with `deepEqual`. */
function fields(token: Token | null): Record<string, unknown> | null {
  if (token === null) return null;
  return Object.fromEntries(TOKEN_FIELDS.map((f) => [f, token[f]]));
}

function expected(id: string, partial: PartialToken): Record<string, unknown> {
  return Object.fromEntries(TOKEN_FIELDS.map((f) => [f, f === "id" ? id : (partial[f] ?? null)]));
}

async function rejectsWith(promise: Promise<unknown>, code: TokenStoreErrorCode, what: string): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, `${what}: expected a ${code} error, but the call succeeded`);
  assert.ok(isTokenStoreError(error), `${what}: expected a TokenStoreError ${code}, got ${inspect(error)}`);
  assert.equal(error.code, code, `${what}: expected error code ${code}, got ${error.code} (${error.message})`);
}

/** The store as a leasing store, or a skip when it does not offer leases. */
function leasing(store: TokenStore, skip: (reason: string) => never): LeasingTokenStore {
  if (!supportsLeases(store)) skip("the store does not offer leases");
  return store as LeasingTokenStore;
}

async function count(store: TokenStore): Promise<number> {
  return (await store.getTokens()).length;
}

function test(name: string, run: (ctx: TestContext) => Promise<void>): ConformanceTest {
  return { name, run };
}

/**
 * Stores to run `n` parallel operations from: separate instances when the target shares them.
 * Each instance makes one call first, so connections and schema checks are done and the
 * operations under test really overlap instead of being spread out by connection set-up.
 */
async function instances(ctx: TestContext, n: number): Promise<TokenStore[]> {
  if (!ctx.target.shared) return Array.from({ length: n }, () => ctx.store);
  const stores = await Promise.all(Array.from({ length: n }, () => ctx.open()));
  await Promise.all(stores.map((s) => s.findTokenById("0")));
  return stores;
}

const HOSTILE_VALUES: Record<string, string> = {
  apostrophe: "o'neil@example.net",
  quotes: `say "hi" 'there' \`now\``,
  "SQL injection": "x' OR '1'='1'; DROP TABLE oauthtoken; --",
  "SQL wildcards": "%_%\\_[a-z]*?",
  backslashes: "C:\\path\\to\\\\token\\",
  "JSON metacharacters": '{"$ne":null,"a":[1,2],"b":"\\u0000"}',
  "Mongo operators": "$where",
  "Redis glob": "user:*:[abc]?{x}",
  "commas and newlines": "a,b,c\nd\r\ne\tf",
  "4-byte characters": "😀🚀𝄞𠜎 user",
  "mixed scripts": "Ünïcödé 日本語 עברית العربية",
  "the word null": "null",
  "the word undefined": "undefined",
  spaces: "  leading and trailing  ",
};

// ---------------------------------------------------------------- groups

const contract: ConformanceGroup = {
  name: "contract",
  description: "every method's result for found, not found, empty store and unknown id",
  tests: [
    test("an empty store returns [], null and false", async ({ store }) => {
      assert.deepEqual(await store.getTokens(), []);
      assert.equal(await store.findToken({ userName: "nobody@example.com" }), null);
      assert.equal(await store.findTokenById("1"), null);
      assert.equal(await store.deleteToken("1"), false);
      await store.deleteTokens();
      assert.deepEqual(await store.getTokens(), []);
    }),
    test("saveToken resolves the stored token with a decimal id", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      assert.match(saved.id, /^[1-9][0-9]*$/, "store-generated ids are decimal strings");
      assert.deepEqual(fields(saved), expected(saved.id, sampleToken(1)));
    }),
    test("findToken and findTokenById return null for unknown keys in a non-empty store", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      assert.equal(await store.findToken({ userName: "user2@example.com" }), null);
      assert.equal(await store.findToken({ accessToken: "nope" }), null);
      assert.equal(await store.findToken({ refreshToken: "nope", clientId: "c", clientSecret: "s" }), null);
      assert.equal(await store.findTokenById(saved.id + "0"), null);
      assert.equal(await store.findTokenById(""), null);
    }),
    test("a partial token with no usable key finds nothing, never some token", async ({ store }) => {
      await store.saveToken(sampleToken(1));
      await store.saveToken({ accessToken: "bare" });
      const keyless: PartialToken[] = [
        {},
        { clientId: "1000.CLIENT" },
        { clientId: "1000.CLIENT", clientSecret: "secret-1" },
        { userName: "" },
        { id: "" },
        { accessToken: "" },
        { userName: "", accessToken: "" },
        { userName: null, id: undefined },
        { expiresAt: 1_767_225_600_001, apiDomain: "https://www.zohoapis.com" },
        { refreshToken: "1000.rt.1" }, // refresh token without client credentials
        { grantToken: "1000.gt.1", clientId: "1000.CLIENT" }, // no client secret
        { accessToken: "1000.at.1", clientId: "1000.CLIENT" }, // access token with client id
        { accessToken: "bare", clientSecret: "secret-1" }, // access token with client secret
      ];
      for (const partial of keyless) {
        assert.equal(await store.findToken(partial), null, `findToken(${JSON.stringify(partial)}) must be null`);
      }
    }),
    test("saving a token without a usable key rejects with NO_KEY and stores nothing", async ({ store }) => {
      await store.saveToken(sampleToken(1));
      for (const partial of [{}, { clientId: "c", clientSecret: "s" }, { refreshToken: "r" }, { userName: "" }, { accessToken: "a", clientId: "c" }] as PartialToken[]) {
        await rejectsWith(store.saveToken(partial), "NO_KEY", `saveToken(${JSON.stringify(partial)})`);
      }
      assert.equal(await count(store), 1);
    }),
    test("malformed tokens reject with INVALID_TOKEN and store nothing", async ({ store }) => {
      const bad: unknown[] = [
        null,
        "user@example.com",
        42,
        [sampleToken(1)],
        { ...sampleToken(1), user_name: "typo@example.com" },
        { ...sampleToken(1), accessToken: 42 },
        { ...sampleToken(1), expiresAt: "1767225600000" },
        { ...sampleToken(1), expiresAt: 1_767_225_600 }, // seconds, not milliseconds
        { ...sampleToken(1), expiresAt: Number.NaN },
        { ...sampleToken(1), expiresAt: -1 },
        { ...sampleToken(1), expiresAt: 1.5e12 + 0.5 },
        { ...sampleToken(1), expiresAt: 8_640_000_000_000_001 }, // beyond the last JavaScript date
        { ...sampleToken(1), id: "x".repeat(256) }, // ids are at most 255 characters
        { ...sampleToken(1), userName: "nul\u0000byte" },
        { ...sampleToken(1), refreshToken: "lone \ud800 surrogate" },
      ];
      for (const token of bad) {
        await rejectsWith(store.saveToken(token as PartialToken), "INVALID_TOKEN", `saveToken(${inspect(token, { breakLength: Infinity })})`);
      }
      await rejectsWith(store.findToken({ userName: 7 } as unknown as PartialToken), "INVALID_TOKEN", "findToken with a number user name");
      await rejectsWith(store.findTokenById(7 as unknown as string), "INVALID_TOKEN", "findTokenById(7)");
      await rejectsWith(store.deleteToken(null as unknown as string), "INVALID_TOKEN", "deleteToken(null)");
      assert.equal(await count(store), 0);
    }),
    test("deleteToken removes exactly that token and reports whether it existed", async ({ store }) => {
      const a = await store.saveToken(sampleToken(1));
      const b = await store.saveToken(sampleToken(2));
      assert.equal(await store.deleteToken(a.id), true);
      assert.equal(await store.deleteToken(a.id), false);
      assert.equal(await store.findTokenById(a.id), null);
      assert.equal(await store.findToken({ userName: "user1@example.com" }), null);
      assert.deepEqual(fields(await store.findTokenById(b.id)), fields(b));
      assert.equal(await count(store), 1);
    }),
    test("deleteTokens removes every token and the store stays usable", async ({ store }) => {
      for (let i = 1; i <= 5; i++) await store.saveToken(sampleToken(i));
      await store.deleteTokens();
      assert.deepEqual(await store.getTokens(), []);
      assert.equal(await store.findToken({ userName: "user3@example.com" }), null);
      const again = await store.saveToken(sampleToken(3));
      assert.deepEqual(fields(await store.findToken({ userName: "user3@example.com" })), fields(again));
    }),
    test("getTokens returns every token ordered by id", async ({ store }) => {
      const ids: string[] = [];
      for (let i = 1; i <= 12; i++) ids.push((await store.saveToken(sampleToken(i))).id);
      const all = await store.getTokens();
      assert.equal(all.length, 12);
      assert.deepEqual(all.map((t) => t.id), [...ids].sort(compareIds));
      for (const token of all) assert.equal(token.userName, `user${ids.indexOf(token.id) + 1}@example.com`);
    }),
    test("returned tokens are copies: changing one changes nothing stored", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      saved.accessToken = "changed";
      const found = await store.findTokenById(saved.id);
      assert.ok(found);
      found.refreshToken = "changed";
      assert.equal((await store.findTokenById(saved.id))?.accessToken, "1000.at.1");
      assert.equal((await store.findTokenById(saved.id))?.refreshToken, "1000.rt.1");
    }),
    test("printing or JSON-serialising a token redacts its secrets", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      for (const token of [saved, await store.findTokenById(saved.id), (await store.getTokens())[0]]) {
        assert.ok(token);
        for (const shown of [JSON.stringify(token), inspect(token), `${JSON.stringify({ wrapped: [token] })}`]) {
          for (const secret of ["secret-1", "1000.rt.1", "1000.at.1", "1000.gt.1"]) {
            assert.ok(!shown.includes(secret), `a secret appears in ${shown}`);
          }
          assert.ok(shown.includes("user1@example.com"), "non-secret fields stay visible");
        }
        assert.equal(token.accessToken, "1000.at.1", "the values themselves stay readable");
      }
    }),
  ],
};

const roundTrip: ConformanceGroup = {
  name: "round-trip",
  description: "every field comes back exactly as saved, through every read",
  tests: [
    test("every field round-trips through findTokenById, findToken and getTokens", async ({ store }) => {
      const token = sampleToken(7, { expiresAt: 1_767_225_600_123 });
      const saved = await store.saveToken(token);
      const want = expected(saved.id, token);
      assert.deepEqual(fields(saved), want);
      assert.deepEqual(fields(await store.findTokenById(saved.id)), want);
      assert.deepEqual(fields(await store.findToken({ userName: token.userName })), want);
      assert.deepEqual(fields(await store.findToken({ userName: token.userName, clientId: token.clientId })), want);
      assert.deepEqual((await store.getTokens()).map(fields), [want]);
    }),
    test("absent fields come back as null", async ({ store }) => {
      const saved = await store.saveToken({ userName: "sparse@example.com", refreshToken: undefined });
      assert.deepEqual(fields(await store.findTokenById(saved.id)), expected(saved.id, { userName: "sparse@example.com" }));
    }),
    test("expiresAt keeps epoch milliseconds up to JavaScript's last date, 0, and null", async ({ store }) => {
      const values = [0, 1_767_225_600_999, 4_102_444_800_000, 253_402_300_799_999, 8_640_000_000_000_000];
      for (const [i, expiresAt] of values.entries()) {
        const saved = await store.saveToken({ userName: `u${i}`, expiresAt });
        const found = await store.findTokenById(saved.id);
        assert.equal(found?.expiresAt, expiresAt);
        assert.equal(typeof found?.expiresAt, "number");
      }
      const none = await store.saveToken({ userName: "no-expiry" });
      assert.equal((await store.findTokenById(none.id))?.expiresAt, null);
    }),
  ],
};

const matching: ConformanceGroup = {
  name: "matching",
  description: "which stored token a partial token refers to, and in which order the rules apply",
  tests: [
    test("rule 1: an id wins over every other field", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const b = await store.saveToken(sampleToken("b"));
      const found = await store.findToken({ id: a.id, userName: b.userName, accessToken: b.accessToken });
      assert.equal(found?.id, a.id);
      assert.equal(await store.findToken({ id: "999999", userName: b.userName }), null, "an unknown id matches nothing, even with a known user");
    }),
    test("rule 2: a user name wins over access, grant and refresh tokens", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const b = await store.saveToken(sampleToken("b"));
      assert.equal((await store.findToken({ userName: a.userName, accessToken: b.accessToken }))?.id, a.id);
      assert.equal(
        (await store.findToken({ userName: a.userName, clientId: a.clientId, clientSecret: "x", refreshToken: b.refreshToken, grantToken: b.grantToken }))?.id,
        a.id,
      );
      assert.equal(await store.findToken({ userName: "c@example.com", accessToken: a.accessToken }), null, "an unknown user does not fall through to the access token");
    }),
    test("rule 3: an access token matches only without client id and client secret", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      assert.equal((await store.findToken({ accessToken: a.accessToken }))?.id, a.id);
      assert.equal(await store.findToken({ accessToken: a.accessToken, clientId: a.clientId }), null);
      assert.equal(await store.findToken({ accessToken: a.accessToken, clientSecret: a.clientSecret }), null);
    }),
    test("rule 4: grant token first, then refresh token, only with client id and secret", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const b = await store.saveToken(sampleToken("b"));
      const creds = { clientId: "1000.CLIENT", clientSecret: "any" };
      assert.equal((await store.findToken({ ...creds, grantToken: a.grantToken, refreshToken: b.refreshToken }))?.id, a.id, "grant token wins");
      assert.equal((await store.findToken({ ...creds, grantToken: "unknown", refreshToken: b.refreshToken }))?.id, b.id, "falls back to refresh token");
      assert.equal((await store.findToken({ ...creds, refreshToken: b.refreshToken }))?.id, b.id);
      assert.equal((await store.findToken({ ...creds, grantToken: b.grantToken }))?.id, b.id);
      // Zoho's precedence bug matched a refresh token without client credentials; we do not.
      assert.equal(await store.findToken({ refreshToken: b.refreshToken }), null);
      assert.equal(await store.findToken({ grantToken: b.grantToken, clientId: "1000.CLIENT" }), null);
    }),
    test("rule 3 precedes rule 4: an access token is ignored once client credentials are given", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const b = await store.saveToken(sampleToken("b"));
      const found = await store.findToken({ accessToken: a.accessToken, clientId: "1000.CLIENT", clientSecret: "s", refreshToken: b.refreshToken });
      assert.equal(found?.id, b.id);
    }),
    test("one user under two client ids is two tokens", async ({ store }) => {
      const one = await store.saveToken(sampleToken("u", { clientId: "1000.APP_ONE", accessToken: "at-one", refreshToken: "rt-one", grantToken: null }));
      const two = await store.saveToken(sampleToken("u", { clientId: "1000.APP_TWO", accessToken: "at-two", refreshToken: "rt-two", grantToken: null, expiresAt: 1_800_000_000_000 }));
      assert.notEqual(one.id, two.id);
      assert.equal(await count(store), 2);
      const foundOne = await store.findToken({ userName: "useru@example.com", clientId: "1000.APP_ONE" });
      const foundTwo = await store.findToken({ userName: "useru@example.com", clientId: "1000.APP_TWO" });
      assert.equal(foundOne?.accessToken, "at-one");
      assert.equal(foundTwo?.accessToken, "at-two");
      assert.equal(foundOne?.expiresAt, one.expiresAt, "the first app's token keeps its own expiry (Zoho overwrote it)");
      assert.equal(await store.findToken({ userName: "useru@example.com", clientId: "1000.APP_THREE" }), null);
      const anyClient = await store.findToken({ userName: "useru@example.com" });
      assert.equal(anyClient?.id, [one.id, two.id].sort(compareIds)[0], "without a client id, the lowest id wins");
      await store.saveToken({ userName: "useru@example.com", clientId: "1000.APP_TWO", accessToken: "at-two-b" });
      assert.equal((await store.findTokenById(one.id))?.accessToken, "at-one", "saving one client's token leaves the other alone");
    }),
    test("empty strings never match anything", async ({ store }) => {
      await store.saveToken({ accessToken: "a1", userName: "", clientId: "", grantToken: "" });
      assert.equal(await store.findToken({ userName: "" }), null);
      assert.equal(await store.findToken({ userName: "", clientId: "" }), null);
      assert.equal(await store.findToken({ grantToken: "", clientId: "c", clientSecret: "s" }), null);
      assert.equal((await store.findToken({ userName: "", accessToken: "a1" }))?.accessToken, "a1", "an empty user name is no key: the access token decides");
    }),
  ],
};

const merge: ConformanceGroup = {
  name: "merge",
  description: "save updates the matched token; null and undefined keep stored values",
  tests: [
    test("a refresh response without refresh token or api domain keeps the stored ones", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      const updated = await store.saveToken({ userName: saved.userName, clientId: saved.clientId, accessToken: "1000.at.new", expiresAt: 1_900_000_000_000, refreshToken: undefined, apiDomain: null });
      assert.equal(updated.id, saved.id);
      assert.deepEqual(fields(updated), { ...fields(saved), accessToken: "1000.at.new", expiresAt: 1_900_000_000_000 });
      assert.deepEqual(fields(await store.findTokenById(saved.id)), fields(updated));
      assert.equal(await count(store), 1);
    }),
    test("saving by id updates that token, whatever its other keys say", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const updated = await store.saveToken({ id: a.id, userName: "renamed@example.com", apiDomain: "https://www.zohoapis.eu" });
      assert.equal(updated.id, a.id);
      assert.equal(updated.userName, "renamed@example.com");
      assert.equal(updated.refreshToken, a.refreshToken);
      assert.equal(await store.findToken({ userName: "usera@example.com" }), null);
      assert.equal((await store.findToken({ userName: "renamed@example.com" }))?.id, a.id);
    }),
    test("saving by access token, grant token or refresh token updates the matched token", async ({ store }) => {
      const bare = await store.saveToken({ accessToken: "bare-at" });
      assert.equal((await store.saveToken({ accessToken: "bare-at", apiDomain: "https://www.zohoapis.in" })).id, bare.id);
      const full = await store.saveToken(sampleToken(2, { userName: null }));
      const creds = { clientId: full.clientId, clientSecret: full.clientSecret };
      assert.equal((await store.saveToken({ ...creds, grantToken: full.grantToken, accessToken: "g-at" })).id, full.id);
      const viaRefresh = await store.saveToken({ ...creds, refreshToken: full.refreshToken, accessToken: "r-at" });
      assert.equal(viaRefresh.id, full.id);
      assert.equal(viaRefresh.accessToken, "r-at");
      assert.equal(await count(store), 2);
      assert.equal((await store.findTokenById(bare.id))?.apiDomain, "https://www.zohoapis.in");
    }),
    test("an empty string is a value: it replaces the stored one", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      const updated = await store.saveToken({ userName: saved.userName, clientId: saved.clientId, redirectUrl: "" });
      assert.equal(updated.redirectUrl, "");
      assert.equal((await store.findTokenById(saved.id))?.redirectUrl, "");
    }),
    test("a save that would share a unique key with another token rejects with CONFLICT and changes nothing", async ({ store }) => {
      const a = await store.saveToken(sampleToken("a"));
      const b = await store.saveToken(sampleToken("b"));
      await rejectsWith(store.saveToken({ userName: b.userName, clientId: b.clientId, accessToken: a.accessToken }), "CONFLICT", "taking another token's access token");
      await rejectsWith(store.saveToken({ userName: b.userName, clientId: b.clientId, refreshToken: a.refreshToken }), "CONFLICT", "taking another token's refresh token");
      await rejectsWith(store.saveToken({ id: b.id, userName: a.userName }), "CONFLICT", "taking another token's user and client");
      await rejectsWith(store.saveToken({ userName: "new@example.com", grantToken: a.grantToken }), "CONFLICT", "a new token with another token's grant token");
      assert.deepEqual(fields(await store.findTokenById(b.id)), fields(b));
      assert.equal(await count(store), 2);
    }),
  ],
};

const ids: ConformanceGroup = {
  name: "ids",
  description: "ids are unique, stable and never reused; given ids are kept",
  tests: [
    test("ids are unique and stay the same across updates", async ({ store }) => {
      const first = await Promise.all([1, 2, 3].map((i) => store.saveToken(sampleToken(i))));
      assert.equal(new Set(first.map((t) => t.id)).size, 3);
      for (const [i, token] of first.entries()) {
        const updated = await store.saveToken({ userName: token.userName, clientId: token.clientId, accessToken: `new-${i}` });
        assert.equal(updated.id, token.id);
      }
      assert.deepEqual((await store.getTokens()).map((t) => t.id), first.map((t) => t.id).sort(compareIds));
    }),
    test("ids are not reused after a delete", async ({ store }) => {
      const a = await store.saveToken(sampleToken(1));
      const b = await store.saveToken(sampleToken(2));
      await store.deleteToken(b.id);
      const c = await store.saveToken(sampleToken(3));
      assert.ok(![a.id, b.id].includes(c.id), `id ${c.id} was handed out again`);
      await store.deleteTokens();
      const d = await store.saveToken(sampleToken(4));
      assert.ok(![a.id, b.id, c.id].includes(d.id), `id ${d.id} was handed out again after deleteTokens`);
    }),
    test("huge decimal ids are kept but never make generated ids collide", async ({ store }) => {
      const given = ["9007199254740992", "99999999999999999999", "999999999999999"];
      for (const [i, id] of given.entries()) await store.saveToken(sampleToken(`big${i}`, { id }));
      const generated = [];
      for (let i = 0; i < 3; i++) generated.push((await store.saveToken(sampleToken(`new${i}`))).id);
      assert.equal(new Set([...given, ...generated]).size, 6, `ids collided: ${generated.join(", ")}`);
      assert.equal(await count(store), 6, "no token was overwritten");
      for (const [i, id] of given.entries()) assert.equal((await store.findTokenById(id))?.userName, `userbig${i}@example.com`);
      const longest = await store.saveToken(sampleToken("long", { id: "L".repeat(255) }));
      assert.equal((await store.findTokenById(longest.id))?.userName, "userlong@example.com", "a 255-character id round-trips");
    }),
    test("a token saved with an unknown id is inserted with that id, numeric or not", async ({ store }) => {
      const legacy = await store.saveToken(sampleToken(1, { id: "nodejs_user1@example.com_PRODUCTION_abcd" }));
      assert.equal(legacy.id, "nodejs_user1@example.com_PRODUCTION_abcd");
      const numeric = await store.saveToken(sampleToken(2, { id: "41" }));
      assert.equal(numeric.id, "41");
      const next = await store.saveToken(sampleToken(3));
      assert.match(next.id, /^[1-9][0-9]*$/);
      assert.ok(!["41", legacy.id].includes(next.id));
      assert.equal((await store.findTokenById(legacy.id))?.userName, "user1@example.com");
      assert.equal(await count(store), 3);
    }),
  ],
};

const durability: ConformanceGroup = {
  name: "durability",
  description: "tokens, ids and the id counter survive close and reopen",
  tests: [
    test("tokens survive close and reopen unchanged", async (ctx) => {
      if (!ctx.target.durable) ctx.skip("the store is not durable");
      const saved = [];
      for (let i = 1; i <= 5; i++) saved.push(await ctx.store.saveToken(sampleToken(i, { userName: `${HOSTILE_VALUES["4-byte characters"]} ${i}` })));
      const reopened = await ctx.reopen();
      assert.deepEqual((await reopened.getTokens()).map(fields), saved.map(fields));
      assert.equal((await reopened.findToken({ userName: saved[2]!.userName }))?.id, saved[2]!.id);
    }),
    test("ids are not reused after a reopen", async (ctx) => {
      if (!ctx.target.durable) ctx.skip("the store is not durable");
      await ctx.store.saveToken(sampleToken(1));
      const b = await ctx.store.saveToken(sampleToken(2));
      await ctx.store.deleteToken(b.id);
      const reopened = await ctx.reopen();
      const c = await reopened.saveToken(sampleToken(3));
      assert.notEqual(c.id, b.id);
    }),
  ],
};

const PARALLEL = 50;

const concurrency: ConformanceGroup = {
  name: "concurrency",
  description: `${PARALLEL} parallel saves, from separate store instances where the store can share`,
  tests: [
    test(`${PARALLEL} parallel saves of one identity leave exactly one token`, async (ctx) => {
      const stores = await instances(ctx, PARALLEL);
      const results = await Promise.all(
        stores.map((s, i) => s.saveToken(sampleToken("same", { accessToken: `at-${i}`, refreshToken: `rt-${i}`, grantToken: null, expiresAt: 1_800_000_000_000 + i }))),
      );
      assert.equal(new Set(results.map((t) => t.id)).size, 1, "every save must land on the same token");
      const all = await ctx.store.getTokens();
      assert.equal(all.length, 1);
      const [token] = all;
      const i = Number(token!.accessToken!.slice(3));
      assert.equal(token!.refreshToken, `rt-${i}`, "the stored token's fields all come from one save");
      assert.equal(token!.expiresAt, 1_800_000_000_000 + i);
    }),
    test(`${PARALLEL} parallel saves of different users get ${PARALLEL} distinct ids`, async (ctx) => {
      const stores = await instances(ctx, PARALLEL);
      const results = await Promise.all(stores.map((s, i) => s.saveToken(sampleToken(`p${i}`))));
      assert.equal(new Set(results.map((t) => t.id)).size, PARALLEL);
      const all = await ctx.store.getTokens();
      assert.equal(all.length, PARALLEL);
      for (const [i, saved] of results.entries()) {
        assert.equal((await ctx.store.findToken({ userName: `userp${i}@example.com` }))?.id, saved.id);
      }
    }),
    test("parallel saves of one user with and without an id leave one token", async (ctx) => {
      const first = await ctx.store.saveToken(sampleToken("x"));
      const stores = await instances(ctx, 20);
      await Promise.all(
        stores.map((s, i) => s.saveToken(i % 2 === 0 ? { id: first.id, apiDomain: `https://d${i}.example.com` } : { userName: first.userName, clientId: first.clientId, accessToken: `at-${i}` })),
      );
      assert.equal(await count(ctx.store), 1);
    }),
  ],
};

const hostile: ConformanceGroup = {
  name: "hostile",
  description: "quotes, metacharacters, 4-byte characters, 8 KB tokens, case and spacing",
  tests: [
    test("hostile values round-trip in every text field and find their token", async ({ store }) => {
      for (const [label, value] of Object.entries(HOSTILE_VALUES)) {
        const token: PartialToken = {
          userName: value,
          clientId: `${value}#client`,
          clientSecret: `${value}#secret`,
          refreshToken: `${value}#refresh`,
          accessToken: `${value}#access`,
          grantToken: `${value}#grant`,
          redirectUrl: `${value}#redirect`,
          apiDomain: `${value}#domain`,
          expiresAt: 1_767_225_600_000,
        };
        const saved = await store.saveToken(token);
        const want = expected(saved.id, token);
        assert.deepEqual(fields(await store.findTokenById(saved.id)), want, `${label}: by id`);
        assert.deepEqual(fields(await store.findToken({ userName: value })), want, `${label}: by user name`);
        assert.deepEqual(fields(await store.findToken({ userName: value, clientId: `${value}#client` })), want, `${label}: by user and client`);
        assert.deepEqual(fields(await store.findToken({ accessToken: `${value}#access` })), want, `${label}: by access token`);
        assert.deepEqual(fields(await store.findToken({ clientId: "c", clientSecret: "s", grantToken: `${value}#grant` })), want, `${label}: by grant token`);
        assert.deepEqual(fields(await store.findToken({ clientId: "c", clientSecret: "s", refreshToken: `${value}#refresh` })), want, `${label}: by refresh token`);
      }
      assert.equal(await count(store), Object.keys(HOSTILE_VALUES).length, "no injected statement touched other tokens");
    }),
    test("8 KB tokens are stored and found by every key", async ({ store }) => {
      const big = (c: string) => c.repeat(8192);
      const token = { userName: `${big("u")}@example.com`, clientId: "c", clientSecret: big("s"), accessToken: `${big("a")}😀`, refreshToken: big("r"), grantToken: big("g") };
      const other = { userName: `${big("u")}@example.org`, clientId: "c", clientSecret: "s", accessToken: `${big("a")}😁`, refreshToken: `${big("r")}x`, grantToken: `${big("g")}x` };
      const saved = await store.saveToken(token);
      const saved2 = await store.saveToken(other);
      assert.notEqual(saved.id, saved2.id, "tokens sharing an 8 KB prefix are different tokens");
      const want = expected(saved.id, token);
      assert.deepEqual(fields(await store.findToken({ userName: token.userName })), want);
      assert.deepEqual(fields(await store.findToken({ accessToken: token.accessToken })), want);
      assert.deepEqual(fields(await store.findToken({ clientId: "c", clientSecret: "s", refreshToken: token.refreshToken })), want);
      assert.deepEqual(fields(await store.findToken({ clientId: "c", clientSecret: "s", grantToken: token.grantToken })), want);
    }),
    test("user names differing only by case, spacing or Unicode normalisation are different users", async ({ store }) => {
      const names = ["ana@example.com", "Ana@example.com", "ANA@EXAMPLE.COM", "ana@example.com ", " ana@example.com", "ana@example.com\t", "jos\u00e9@example.com", "jose\u0301@example.com"];
      const saved = [];
      for (const [i, userName] of names.entries()) saved.push(await store.saveToken({ userName, clientId: "c", accessToken: `at-${i}` }));
      assert.equal(new Set(saved.map((t) => t.id)).size, names.length);
      for (const [i, userName] of names.entries()) {
        assert.equal((await store.findToken({ userName }))?.accessToken, `at-${i}`, JSON.stringify(userName));
      }
      assert.equal(await store.findToken({ userName: "ana@example.com  " }), null);
    }),
    test("empty string and null stay distinct, and the string \"null\" is just a string", async ({ store }) => {
      const saved = await store.saveToken({ userName: "null", clientId: "", clientSecret: null, redirectUrl: "", apiDomain: "null", accessToken: "undefined" });
      const found = await store.findTokenById(saved.id);
      assert.equal(found?.userName, "null");
      assert.equal(found?.clientId, "");
      assert.equal(found?.clientSecret, null);
      assert.equal(found?.redirectUrl, "");
      assert.equal(found?.apiDomain, "null");
      assert.equal(found?.refreshToken, null);
      await store.saveToken({ accessToken: "no-user" });
      assert.equal((await store.findToken({ userName: "null" }))?.id, saved.id);
      assert.equal(await count(store), 2);
    }),
  ],
};

const closed: ConformanceGroup = {
  name: "closed",
  description: "a closed store rejects every call with STORE_CLOSED",
  tests: [
    test("every method rejects with STORE_CLOSED after close, and close is idempotent", async ({ store }) => {
      const saved = await store.saveToken(sampleToken(1));
      await store.close();
      await store.close();
      await rejectsWith(store.findToken({ userName: saved.userName }), "STORE_CLOSED", "findToken");
      await rejectsWith(store.saveToken(sampleToken(2)), "STORE_CLOSED", "saveToken");
      await rejectsWith(store.deleteToken(saved.id), "STORE_CLOSED", "deleteToken");
      await rejectsWith(store.getTokens(), "STORE_CLOSED", "getTokens");
      await rejectsWith(store.deleteTokens(), "STORE_CLOSED", "deleteTokens");
      await rejectsWith(store.findTokenById(saved.id), "STORE_CLOSED", "findTokenById");
      if (supportsLeases(store)) await rejectsWith(store.acquireLease(saved.id, "h", 1000), "STORE_CLOSED", "acquireLease");
    }),
  ],
};

const leases: ConformanceGroup = {
  name: "leases",
  description: "the optional lease: one holder at a time, expiring, released only by its holder",
  tests: [
    test("one holder at a time; renew; only the holder releases", async (ctx) => {
      const store = leasing(ctx.store, ctx.skip);
      const { id } = await store.saveToken(sampleToken(1));
      assert.equal(await store.acquireLease(id, "holder-a", 10_000), true);
      assert.equal(await store.acquireLease(id, "holder-b", 10_000), false);
      assert.equal(await store.acquireLease(id, "holder-a", 10_000), true, "the holder can renew");
      assert.equal(await store.releaseLease(id, "holder-b"), false, "only the holder releases");
      assert.equal(await store.acquireLease(id, "holder-b", 10_000), false);
      assert.equal(await store.releaseLease(id, "holder-a"), true);
      assert.equal(await store.releaseLease(id, "holder-a"), false);
      assert.equal(await store.acquireLease(id, "holder-b", 10_000), true);
    }),
    test("a lease expires by itself", async (ctx) => {
      const store = leasing(ctx.store, ctx.skip);
      const { id } = await store.saveToken(sampleToken(1));
      assert.equal(await store.acquireLease(id, "dead-holder", 300), true);
      assert.equal(await store.acquireLease(id, "other", 10_000), false);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await store.acquireLease(id, "other", 10_000), true, "an expired lease can be taken");
      assert.equal(await store.releaseLease(id, "dead-holder"), false, "the old holder cannot release the new holder's lease");
    }),
    test("leases are per token, survive saves and go with deleteToken", async (ctx) => {
      const store = leasing(ctx.store, ctx.skip);
      const a = await store.saveToken(sampleToken(1));
      const b = await store.saveToken(sampleToken(2));
      assert.equal(await store.acquireLease(a.id, "h1", 10_000), true);
      assert.equal(await store.acquireLease(b.id, "h2", 10_000), true, "another token's lease is independent");
      await store.saveToken({ id: a.id, accessToken: "refreshed" });
      assert.equal(await store.acquireLease(a.id, "h2", 10_000), false, "saving does not drop the lease");
      await store.deleteToken(a.id);
      await rejectsWith(store.acquireLease(a.id, "h2", 10_000), "NOT_FOUND", "acquireLease on a deleted token");
      await rejectsWith(store.acquireLease("999999", "h2", 10_000), "NOT_FOUND", "acquireLease on an unknown id");
    }),
    test("parallel holders from separate instances: exactly one wins", async (ctx) => {
      leasing(ctx.store, ctx.skip);
      const { id } = await ctx.store.saveToken(sampleToken(1));
      const stores = await instances(ctx, 20);
      const won = await Promise.all(stores.map((s, i) => leasing(s, ctx.skip).acquireLease(id, `holder-${i}`, 10_000)));
      assert.equal(won.filter(Boolean).length, 1);
    }),
  ],
};

/** Every group, in the order they run. */
export const conformanceGroups: readonly ConformanceGroup[] = [contract, roundTrip, matching, merge, ids, durability, concurrency, hostile, closed, leases];

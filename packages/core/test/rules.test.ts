import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  compareIds,
  identityDigest,
  keyDigest,
  mergeToken,
  normalizeToken,
  planSave,
  redactToken,
  selectorFor,
  TokenStoreError,
  TokenTable,
  toToken,
  uniqueKeys,
  type Token,
} from "../src/index.js";

const creds = { clientId: "cid", clientSecret: "sec" };

describe("selectorFor (the matching rules)", () => {
  it.each([
    ["id wins", { id: "7", userName: "u", accessToken: "a" }, [{ id: "7" }]],
    ["user name with client", { userName: "u", clientId: "c", accessToken: "a" }, [{ userName: "u", clientId: "c" }]],
    ["user name alone", { userName: "u", accessToken: "a" }, [{ userName: "u" }]],
    ["access token without client credentials", { accessToken: "a" }, [{ accessToken: "a" }]],
    ["grant then refresh", { ...creds, grantToken: "g", refreshToken: "r", accessToken: "a" }, [{ grantToken: "g" }, { refreshToken: "r" }]],
    ["refresh only", { ...creds, refreshToken: "r" }, [{ refreshToken: "r" }]],
    ["empty id and user fall through", { id: "", userName: "", accessToken: "a" }, [{ accessToken: "a" }]],
    ["empty client id is no client id", { userName: "u", clientId: "" }, [{ userName: "u" }]],
  ])("%s", (_, partial, anyOf) => {
    expect(selectorFor(partial)).toEqual({ anyOf });
  });

  it.each([
    ["nothing", {}],
    ["refresh without credentials (Zoho's precedence bug)", { refreshToken: "r" }],
    ["grant without secret", { grantToken: "g", clientId: "c" }],
    ["access token with a client id", { accessToken: "a", clientId: "c" }],
    ["access token with a client secret", { accessToken: "a", clientSecret: "s" }],
    ["only empty strings", { id: "", userName: "", accessToken: "", ...creds, refreshToken: "" }],
  ])("no key: %s", (_, partial) => {
    expect(selectorFor(partial)).toBeNull();
  });
});

describe("planSave and mergeToken", () => {
  it("rejects a token without a key with NO_KEY", () => {
    expect(() => planSave({ clientId: "c" })).toThrowError(expect.objectContaining({ code: "NO_KEY" }));
  });

  it("null and undefined keep stored values; empty strings replace them", () => {
    const stored: Token = { id: "1", userName: "u", clientId: "c", clientSecret: "s", refreshToken: "r", accessToken: "a", grantToken: null, expiresAt: 1_800_000_000_000, redirectUrl: "x", apiDomain: "d" };
    const plan = planSave({ userName: "u", clientId: "c", accessToken: "a2", refreshToken: undefined, apiDomain: null, redirectUrl: "" });
    expect(plan.id).toBeNull();
    expect(mergeToken(stored, plan.values)).toEqual({ ...stored, accessToken: "a2", redirectUrl: "" });
  });

  it("keeps a given id for inserts", () => {
    expect(planSave({ id: "nodejs_x", userName: "u" }).id).toBe("nodejs_x");
  });
});

describe("normalizeToken", () => {
  it.each([
    ["unknown field", { user_name: "x" }, /unknown token field "user_name"/],
    ["number for a string", { accessToken: 5 }, /accessToken.*must be a string/],
    ["seconds for expiry", { expiresAt: 1_767_225_600 }, /looks like seconds/],
    ["fractional expiry", { expiresAt: 1.5 }, /epoch milliseconds/],
    ["NUL", { userName: "a\u0000b" }, /NUL/],
    ["lone surrogate", { userName: "a\ud800" }, /well-formed/],
  ])("rejects %s without echoing the value", (_, token, message) => {
    let error: unknown;
    try {
      normalizeToken(token);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TokenStoreError);
    expect((error as TokenStoreError).code).toBe("INVALID_TOKEN");
    expect((error as Error).message).toMatch(message);
  });
});

describe("tokens print redacted", () => {
  const token = toToken({ id: "1", userName: "u", clientId: "c", clientSecret: "S3CRET", refreshToken: "R3FRESH", accessToken: "ACC3SS", grantToken: null, expiresAt: 1, redirectUrl: null, apiDomain: null });
  it("JSON and inspect hide secrets but keep presence", () => {
    for (const shown of [JSON.stringify(token), inspect(token), inspect({ nested: [token] })]) {
      expect(shown).not.toMatch(/S3CRET|R3FRESH|ACC3SS/);
      expect(shown).toContain("[redacted]");
    }
    expect(JSON.parse(JSON.stringify(token)).grantToken).toBeNull();
    expect(token.accessToken).toBe("ACC3SS");
    expect(redactToken({ accessToken: "x", userName: "u" })).toEqual({ accessToken: "[redacted]", userName: "u" });
  });
  it("rejects corrupt stored records", () => {
    expect(() => toToken({ id: "1", expiresAt: "soon" } as never)).toThrowError(expect.objectContaining({ code: "CORRUPT_DATA" }));
    expect(() => toToken({ id: "" } as never)).toThrowError(expect.objectContaining({ code: "CORRUPT_DATA" }));
  });
});

describe("ids and digests", () => {
  it("orders decimal ids numerically", () => {
    expect(["10", "2", "1", "abc", "9"].sort(compareIds)).toEqual(["1", "2", "9", "10", "abc"]);
  });
  it("digests are fixed-length and distinguish case and spaces", () => {
    expect(keyDigest("x".repeat(9000))).toHaveLength(43);
    expect(keyDigest("Ana")).not.toBe(keyDigest("ana"));
    expect(keyDigest("ana ")).not.toBe(keyDigest("ana"));
    expect(identityDigest("u", "")).toBe(identityDigest("u", null));
    expect(identityDigest("u", "c1")).not.toBe(identityDigest("u", "c2"));
    expect(uniqueKeys({ userName: "", clientId: null, accessToken: "", grantToken: null, refreshToken: "r" })).toEqual({ identity: null, user: null, access: null, grant: null, refresh: keyDigest("r") });
  });
});

describe("TokenTable", () => {
  it("never reuses ids and resumes after the highest stored numeric id", () => {
    const table = new TokenTable([{ id: "41", userName: "a", clientId: null, clientSecret: null, refreshToken: null, accessToken: null, grantToken: null, expiresAt: null, redirectUrl: null, apiDomain: null }]);
    const b = table.save(planSave({ userName: "b" }));
    expect(b.id).toBe("42");
    table.delete("42");
    expect(table.save(planSave({ userName: "c" })).id).toBe("43");
  });
  it("refuses duplicate ids in loaded data", () => {
    const t = { id: "1", userName: null, clientId: null, clientSecret: null, refreshToken: null, accessToken: "a", grantToken: null, expiresAt: null, redirectUrl: null, apiDomain: null };
    expect(() => new TokenTable([t, { ...t, accessToken: "b" }])).toThrowError(expect.objectContaining({ code: "CORRUPT_DATA" }));
  });
});

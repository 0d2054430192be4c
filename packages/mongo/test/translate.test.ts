import assert from "node:assert/strict";
import { identityDigest, keyDigest, planSave, type TokenValues } from "@tokenstore/core";
import { Long } from "mongodb";
import { describe, it } from "vitest";
import { conditionFilter, indexSpecs, isUniqueCondition, newDocument, rowFrom, selectorFilter, updateDocument, updateKeys } from "../src/index.js";

// Pure translation from core's selector and save plan to MongoDB documents: runs without a server.

const NONE: TokenValues = {
  userName: null,
  clientId: null,
  clientSecret: null,
  refreshToken: null,
  accessToken: null,
  grantToken: null,
  expiresAt: null,
  redirectUrl: null,
  apiDomain: null,
};

describe("mongo translation (no server needed)", () => {
  it("turns each kind of condition into the indexed digest plus exact values", () => {
    assert.deepEqual(conditionFilter({ id: "7" }), { _id: "7" });
    assert.deepEqual(conditionFilter({ userName: "a@x", clientId: "c" }), { "keys.identity": identityDigest("a@x", "c"), userName: "a@x", clientId: "c" });
    assert.deepEqual(conditionFilter({ userName: "a@x" }), { "keys.user": keyDigest("a@x"), userName: "a@x" });
    assert.deepEqual(conditionFilter({ accessToken: "$where" }), { "keys.access": keyDigest("$where"), accessToken: "$where" });
    assert.deepEqual(conditionFilter({ grantToken: "g" }), { "keys.grant": keyDigest("g"), grantToken: "g" });
    assert.deepEqual(conditionFilter({ refreshToken: "r" }), { "keys.refresh": keyDigest("r"), refreshToken: "r" });
    assert.throws(() => conditionFilter({ clientId: "c" }), { code: "UNSUPPORTED" });
  });

  it("turns a selector of several conditions into $or, in the selector's order", () => {
    const plan = planSave({ clientId: "c", clientSecret: "s", grantToken: "g", refreshToken: "r" });
    assert.deepEqual(selectorFilter(plan.selector), {
      $or: [
        { "keys.grant": keyDigest("g"), grantToken: "g" },
        { "keys.refresh": keyDigest("r"), refreshToken: "r" },
      ],
    });
    assert.deepEqual(selectorFilter(planSave({ id: "x", userName: "u" }).selector), { _id: "x" });
  });

  it("knows which conditions name at most one token", () => {
    assert.equal(isUniqueCondition({ id: "1" }), true);
    assert.equal(isUniqueCondition({ userName: "u", clientId: "c" }), true);
    assert.equal(isUniqueCondition({ accessToken: "a" }), true);
    assert.equal(isUniqueCondition({ userName: "u" }), false);
  });

  it("turns a save plan's values into $set of non-null values and the keys they decide", () => {
    const plan = planSave({ userName: "u", clientId: "c", accessToken: "a", expiresAt: 1_767_225_600_000, redirectUrl: "", refreshToken: null });
    const keys = updateKeys(plan.values);
    assert.deepEqual(keys, { identity: identityDigest("u", "c"), user: keyDigest("u"), access: keyDigest("a") });
    assert.deepEqual(updateDocument(plan.values, keys as Record<string, string | null>), {
      $set: {
        userName: "u",
        clientId: "c",
        accessToken: "a",
        redirectUrl: "",
        expiresAt: Long.fromNumber(1_767_225_600_000),
        "keys.identity": identityDigest("u", "c"),
        "keys.user": keyDigest("u"),
        "keys.access": keyDigest("a"),
      },
    });
  });

  it("marks keys that depend on stored values, and clears keys saved as empty strings", () => {
    assert.deepEqual(updateKeys({ ...NONE, userName: "u" }), { identity: ["userName"], user: keyDigest("u") });
    assert.deepEqual(updateKeys({ ...NONE, clientId: "c", clientSecret: "s", refreshToken: "r" }), { identity: ["clientId"], refresh: keyDigest("r") });
    assert.deepEqual(updateKeys({ ...NONE, accessToken: "" }), { access: null });
    assert.deepEqual(updateDocument({ ...NONE, accessToken: "" }, { access: null }), { $set: { accessToken: "", "keys.access": null } });
    assert.equal(updateDocument(NONE, {}), null, "a save of only an id changes nothing");
  });

  it("builds a new token's document with string _id, int64 expiry, nulls and digests", () => {
    const plan = planSave({ userName: "u", accessToken: "a", expiresAt: 8_640_000_000_000_000, clientId: "" });
    const doc = newDocument("42", plan.values);
    assert.deepEqual(doc, {
      _id: "42",
      userName: "u",
      clientId: "",
      clientSecret: null,
      refreshToken: null,
      accessToken: "a",
      grantToken: null,
      expiresAt: Long.fromNumber(8_640_000_000_000_000),
      redirectUrl: null,
      apiDomain: null,
      keys: { identity: identityDigest("u", null), user: keyDigest("u"), access: keyDigest("a"), grant: null, refresh: null },
    });
    assert.deepEqual(rowFrom(doc), { id: "42", ...plan.values });
    assert.equal(rowFrom({ ...doc, expiresAt: BigInt(5) }).expiresAt, 5);
    assert.equal(rowFrom({ ...doc, expiresAt: 5 }).expiresAt, 5);
  });

  it("declares partial unique indexes on the unique-key digests and a plain one on the user name", () => {
    assert.deepEqual(indexSpecs(), [
      { key: { "keys.identity": 1 }, name: "tokenstore_identity", unique: true, partialFilterExpression: { "keys.identity": { $type: "string" } } },
      { key: { "keys.user": 1 }, name: "tokenstore_user", unique: false, partialFilterExpression: { "keys.user": { $type: "string" } } },
      { key: { "keys.access": 1 }, name: "tokenstore_access", unique: true, partialFilterExpression: { "keys.access": { $type: "string" } } },
      { key: { "keys.grant": 1 }, name: "tokenstore_grant", unique: true, partialFilterExpression: { "keys.grant": { $type: "string" } } },
      { key: { "keys.refresh": 1 }, name: "tokenstore_refresh", unique: true, partialFilterExpression: { "keys.refresh": { $type: "string" } } },
    ]);
  });
});

import { describe, expect, it } from "vitest";
import type { PartialToken, Token, TokenStore } from "@tokenstore/core";
import { MemoryTokenStore } from "@tokenstore/memory";
import { runConformance, type ConformanceTarget, type TestResult } from "../src/index.js";

/** A store that forwards to a memory store, with one method swapped for a broken one. */
function brokenTarget(name: string, patch: (inner: MemoryTokenStore) => Partial<TokenStore>): ConformanceTarget {
  return {
    name,
    durable: false,
    shared: false,
    setup: () => {
      const inner = new MemoryTokenStore();
      const store: TokenStore = {
        findToken: (p) => inner.findToken(p),
        saveToken: (t) => inner.saveToken(t),
        deleteToken: (id) => inner.deleteToken(id),
        getTokens: () => inner.getTokens(),
        deleteTokens: () => inner.deleteTokens(),
        findTokenById: (id) => inner.findTokenById(id),
        close: () => inner.close(),
        ...patch(inner),
      };
      return { open: () => store };
    },
  };
}

function failedGroups(results: TestResult[]): Set<string> {
  return new Set(results.filter((r) => r.status === "fail").map((r) => r.group));
}

describe("the suite tests itself", () => {
  it("passes the reference memory store in every group", async () => {
    const results = await runConformance({ name: "memory", durable: false, shared: false, setup: () => { const s = new MemoryTokenStore(); return { open: () => s }; } });
    expect(results.filter((r) => r.status === "fail").map((r) => `${r.group} › ${r.test}: ${r.message}`)).toEqual([]);
    expect(results.filter((r) => r.status === "pass").length).toBeGreaterThan(30);
  });

  it("fails a store that ignores the precedence of the rules", async () => {
    // Looks the access token up before the user name, as a naive store might.
    const target = brokenTarget("ignores-precedence", (inner) => ({
      findToken: async (p: PartialToken) => (p.accessToken ? await inner.findToken({ accessToken: p.accessToken }) : null) ?? inner.findToken(p),
    }));
    expect(failedGroups(await runConformance(target))).toContain("matching");
  });

  it("fails a store that creates duplicates", async () => {
    let next = 1000;
    const target = brokenTarget("creates-duplicates", (inner) => ({
      // Inserts every save as a new token instead of updating the matched one.
      saveToken: (t: PartialToken) => inner.saveToken({ ...t, id: t.id ?? String(next++) }),
    }));
    const failed = failedGroups(await runConformance(target));
    expect(failed).toContain("merge");
    expect(failed).toContain("concurrency");
  });

  it("fails a store that loses a field", async () => {
    const target = brokenTarget("loses-api-domain", (inner) => ({
      saveToken: async (t: PartialToken): Promise<Token> => inner.saveToken({ ...t, apiDomain: null }),
    }));
    const failed = failedGroups(await runConformance(target));
    expect(failed).toContain("round-trip");
  });

  it("fails a store whose lookup without a key returns some token", async () => {
    const target = brokenTarget("no-condition", (inner) => ({
      findToken: async (p: PartialToken) => (await inner.findToken(p)) ?? (await inner.getTokens())[0] ?? null,
    }));
    expect(failedGroups(await runConformance(target))).toContain("contract");
  });

  it("fails a store that keeps working after close", async () => {
    const target = brokenTarget("ignores-close", () => ({ close: async () => {} }));
    expect(failedGroups(await runConformance(target))).toContain("closed");
  });
});

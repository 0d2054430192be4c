import type { PartialToken } from "@tokenstore/core";

/**
 * Deterministic Zoho-like tokens for the benchmark. Every value is made of [A-Za-z0-9.@:/_-]
 * only, so the naive stores can concatenate them into SQL safely (see naive.ts).
 */
export interface BenchToken {
  id: string;
  userName: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  accessToken: string;
  expiresAt: number;
  redirectUrl: string;
  apiDomain: string;
}

const FILLER = "f3c1a9d27b5e08c4a6f1d3b9e7c2a5f80d4b6e1c9a3f7d2b5e8c0a4f6d1b3e9c7a2";

/** Zoho-sized (~70 characters) token value, unique per (kind, run, index). */
function secret(kind: string, run: string, index: number, version = 0): string {
  const head = `1000.${kind}${run}${index.toString(36)}${version ? `-${version.toString(36)}` : ""}.`;
  return head + FILLER.slice(0, Math.max(8, 70 - head.length));
}

/** Token `index` (0-based) of a benchmark run; its id is `index + 1`, as a store would number it. */
export function benchToken(run: string, index: number): BenchToken {
  return {
    id: String(index + 1),
    userName: `user${index}.${run}@bench.example.com`,
    clientId: `1000.CLIENT${run.toUpperCase()}`,
    clientSecret: `secret${run}0123456789abcdef0123456789abcdef`,
    refreshToken: secret("r", run, index),
    accessToken: secret("a", run, index),
    expiresAt: 1_900_000_000_000 + index,
    redirectUrl: "https://bench.example.com/oauth/callback",
    apiDomain: "https://www.zohoapis.com",
  };
}

/** What the SDK saves after a refresh: the identity, a new access token and expiry. */
export function refreshedToken(run: string, index: number, version: number): PartialToken {
  const t = benchToken(run, index);
  return {
    userName: t.userName,
    clientId: t.clientId,
    clientSecret: t.clientSecret,
    refreshToken: t.refreshToken,
    accessToken: secret("a", run, index, version),
    expiresAt: t.expiresAt + version,
    apiDomain: t.apiDomain,
  };
}

/** A token the store has not seen: saving it inserts. No id: the store generates one. */
export function newToken(run: string, index: number): PartialToken {
  const { id: _id, ...rest } = benchToken(run, index);
  return rest;
}

export function randomRunId(): string {
  return Math.random().toString(36).slice(2, 8);
}

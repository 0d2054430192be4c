import { randomUUID } from "node:crypto";
import { Redis, type Cluster } from "ioredis";
import { FIXED_KEYS, RedisTokenStore } from "../src/index.js";

export const REDIS_URL = process.env.TOKENSTORE_REDIS_URL ?? "redis://127.0.0.1:6379/0";

/** A prefix no other test (or helper) uses. */
export function randomPrefix(): string {
  return `tokenstore-test:${randomUUID()}:`;
}

/** Removes every key of the store under `prefix`, through the store's own index (never SCAN/KEYS). */
export async function destroyPrefix(client: Redis | Cluster, prefix: string): Promise<void> {
  const store = new RedisTokenStore({ client, prefix });
  await store.deleteTokens();
  await client.del(store.keyBase + FIXED_KEYS[1]); // the id counter, which deleteTokens keeps
  await store.close();
}

/** Every key under the store's base, for assertions only (SCAN in tests, never in the store). */
export async function keysUnder(client: Redis, base: string): Promise<string[]> {
  const pattern = base.replace(/[*?[\]\\{}]/g, "\\$&") + "*";
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  return keys;
}

export function adminClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
}

import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";

export const MONGO_URL = process.env.TOKENSTORE_MONGO_URL ?? "mongodb://127.0.0.1:27017/tokenstore";

/** The URL without credentials, for messages. */
export function shownUrl(url = MONGO_URL): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** Null when a MongoDB server answers a ping within 1.5 s, else why not. */
export async function mongoUnavailable(url = MONGO_URL): Promise<string | null> {
  let client: MongoClient | undefined;
  try {
    client = new MongoClient(url, { serverSelectionTimeoutMS: 1_500, connectTimeoutMS: 1_500 });
    await client.db().command({ ping: 1 });
    return null;
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message.slice(0, 120)}` : String(error);
  } finally {
    await client?.close().catch(() => {});
  }
}

/** Says loudly that real-server tests did not run (and why), so a green run cannot hide it. */
export function warnSkipped(what: string, reason: string): string {
  const title = `SKIPPED: ${what}: no MongoDB at ${shownUrl()} (${reason}). Set TOKENSTORE_MONGO_URL to a reachable server to run them.`;
  const line = "!".repeat(Math.min(title.length, 100));
  console.warn(`\n${line}\n${title}\n${line}\n`);
  return title;
}

/** A collection name no other test uses. */
export function randomCollection(): string {
  return `tokenstore_test_${randomUUID().replaceAll("-", "")}`;
}

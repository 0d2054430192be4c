// Child process of the benchmark: opens the file store on a prepared file, reads every token,
// and prints RSS at each step as one JSON line. A process of its own, so only the store is in it.
import type { TokenStore } from "@tokenstore/core";

const [path, expected] = process.argv.slice(2);
const fileModule: string = "@tokenstore/file"; // resolved at run time: the bench builds without it
const { createFileStore } = (await import(fileModule)) as { createFileStore(options: { path: string }): TokenStore };
const baseline = process.memoryUsage.rss();
const store = createFileStore({ path: path! });
await store.findTokenById("1"); // the first operation reads the file
const afterOpen = process.memoryUsage.rss();
const tokens = await store.getTokens();
if (tokens.length !== Number(expected)) throw new Error(`getTokens returned ${tokens.length} tokens, expected ${expected}`);
const afterGetTokens = process.memoryUsage.rss();
await store.close();
// maxRSS is in kilobytes.
process.stdout.write(`${JSON.stringify({ baseline, afterOpen, afterGetTokens, peak: process.resourceUsage().maxRSS * 1024 })}\n`);

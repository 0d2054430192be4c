// A separate process sharing one token store with its siblings. Imports the BUILT packages
// (dist). Protocol: argv[2] is the JSON config; it prints {"ready":true}, then for every
// {"cmd":"run"} line on stdin it makes `calls` concurrent getAccessToken calls and prints the
// results; {"cmd":"exit"} closes the store and exits.
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createOAuthRefresher, createTokenManager } from "@tokenstore/manager";
import { openStore } from "@tokenstore/url";

const config = JSON.parse(process.argv[2]);
const store = await openStore(config.storeUrl);

const oauthRefresher = createOAuthRefresher({ tokenEndpoint: config.tokenEndpoint });
let blockMarker = null;

// The first process to reach the refresher in a "kill" run (the lease holder) writes the marker
// with its pid and hangs before sending anything; the test then SIGKILLs it.
async function refresher(token, context) {
  if (blockMarker) {
    try {
      writeFileSync(blockMarker, String(process.pid), { flag: "wx" });
      return await new Promise(() => {});
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
  }
  return oauthRefresher(token, context);
}

const manager = createTokenManager({
  store,
  refresher,
  refreshMarginMs: 5_000,
  leaseTtlMs: config.leaseTtlMs,
  refreshTimeoutMs: config.refreshTimeoutMs,
  waitTimeoutMs: 30_000,
  pollIntervalMs: 20,
});

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
send({ ready: true });

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.cmd === "exit") break;
  if (command.cmd === "run") {
    blockMarker = command.blockMarker ?? null;
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: command.calls }, () => manager.getAccessToken(command.partial)));
    send({
      pid: process.pid,
      ms: Date.now() - started,
      tokens: results.filter((r) => r.status === "fulfilled").map((r) => r.value),
      errors: results.filter((r) => r.status === "rejected").map((r) => `${r.reason?.code ?? "?"}: ${r.reason?.message ?? r.reason}`),
    });
  }
}
await store.close();
process.exit(0);

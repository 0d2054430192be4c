// A separate process using the built package (dist): `node worker.mjs <mode> <path> [...]`.
//   save <path> <prefix> <count>  saves users <prefix>-0 … and the shared user "same" (count times each), prints the users' ids as JSON
//   lease <path> <id> <holder>     tries to take the lease on token <id>, prints true or false
import { createSqliteStore } from "../dist/index.js";

const [mode, path, ...args] = process.argv.slice(2);
const store = createSqliteStore({ path });

if (mode === "save") {
  const [prefix, count] = args;
  const ids = [];
  for (let i = 0; i < Number(count); i++) {
    ids.push((await store.saveToken({ userName: `${prefix}-${i}@example.com`, clientId: "c", accessToken: `at-${prefix}-${i}`, refreshToken: `rt-${prefix}-${i}` })).id);
    await store.saveToken({ userName: "same@example.com", clientId: "c", accessToken: `at-same-${prefix}-${i}`, expiresAt: 1_800_000_000_000 + i });
  }
  process.stdout.write(JSON.stringify(ids));
} else if (mode === "lease") {
  const [id, holder] = args;
  process.stdout.write(String(await store.acquireLease(id, holder, 60_000)));
} else {
  throw new Error(`unknown mode ${mode}`);
}
await store.close();

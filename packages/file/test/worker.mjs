// A separate process using the built package (dist): `node worker.mjs <mode> <path> [...]`.
//   save <path> <prefix> <count>  saves users <prefix>-0 … as fast as it can, then prints their ids as JSON
//   loop <path>                   rewrites one token forever (counter i in every field), printing "ok <i>" after each save
import { createFileStore } from "../dist/index.js";

const [mode, path, ...args] = process.argv.slice(2);
const store = createFileStore({ path, lockStaleMs: 2_000 });

if (mode === "save") {
  const [prefix, count] = args;
  const saves = [];
  for (let i = 0; i < Number(count); i++) {
    saves.push(store.saveToken({ userName: `${prefix}-${i}@example.com`, clientId: "c", accessToken: `at-${prefix}-${i}`, refreshToken: `rt-${prefix}-${i}` }));
  }
  const ids = (await Promise.all(saves)).map((t) => t.id);
  process.stdout.write(JSON.stringify(ids));
  await store.close();
} else if (mode === "loop") {
  const found = await store.findToken({ userName: "atom@example.com", clientId: "c" });
  let i = found ? Number(found.accessToken.slice(3)) : 0;
  const padding = "p".repeat(256 * 1024); // a large file, so that kills land mid-write
  for (;;) {
    i++;
    await store.saveToken({ userName: "atom@example.com", clientId: "c", accessToken: `at-${i}`, refreshToken: `rt-${i}`, redirectUrl: `${i}:${padding}`, expiresAt: 1_800_000_000_000 + i });
    process.stdout.write(`ok ${i}\n`);
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}

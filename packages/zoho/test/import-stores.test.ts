import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TOKEN_FIELDS, type Token } from "@tokenstore/core";
import { describe, expect, it } from "vitest";
import { readZohoTokenFile } from "../src/formats.js";
import { exportZohoFile, importZohoFile } from "../src/importers.js";
import { storeKinds } from "./store-kinds.js";

// The importers work on any TokenStore: the fixture goes into every real backend on this machine
// and comes back out unchanged.

const FIXTURE = fileURLToPath(new URL("../../../fixtures/zoho/sdk_tokens.txt", import.meta.url));

/** Every store that keeps tokens outside the instance, each on a fresh location per test. */
const KINDS = (await storeKinds()).filter((kind) => kind.name !== "memory");

const plain = (t: Token) => Object.fromEntries(TOKEN_FIELDS.map((f) => [f, t[f]]));

for (const kind of KINDS) {
  if (kind.skip) console.warn(`\n*** SKIPPED: importing the Zoho fixture into the ${kind.name} store: ${kind.skip} ***\n`);
  describe.skipIf(kind.skip !== null)(`importing the Zoho fixture into a ${kind.name} store${kind.skip ? ` (SKIPPED: ${kind.skip})` : ""}`, () => {
    it("keeps every token and value, is idempotent, and exports back to the same file", async () => {
      const location = await kind.location();
      const store = await location.open();
      const dir = mkdtempSync(join(tmpdir(), "zoho-import-out-"));
      try {
        const parsed = await readZohoTokenFile(FIXTURE);
        expect(await importZohoFile(FIXTURE, store)).toMatchObject({ inserted: 12, skipped: [] });
        expect((await store.getTokens()).map(plain)).toEqual(parsed.records.map((r) => r.token));
        expect((await store.findToken({ userName: "o'neil@example.net" }))?.id).toBe("5");
        expect(await importZohoFile(FIXTURE, store)).toMatchObject({ inserted: 0, updated: 0, unchanged: 12 });
        await exportZohoFile(store, join(dir, "out.txt"));
        expect((await readZohoTokenFile(join(dir, "out.txt"))).records).toEqual(parsed.records);
      } finally {
        await location.close(store);
        await location.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

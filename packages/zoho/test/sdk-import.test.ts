import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TokenStore } from "@tokenstore/core";
import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { importZohoFile, importZohoSqliteTable } from "../src/importers.js";
import { startFakeZoho, type FakeZoho } from "./fake-zoho.js";
import { sdkHarness, type SdkHarness } from "./sdk-harness.js";
import { storeKinds, type StoreLocation } from "./store-kinds.js";

// Tokens written by Zoho's own stores, imported into a TokenStore, then used by Zoho's SDK:
// the app must go on without re-authorising anyone. The fixtures' expiries (2026-01) are past,
// so the SDK must refresh each user's token once with the imported refresh token.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const fixtures = resolve(repoRoot, "fixtures/zoho");

/** `users`: tokens with a user, client credentials and a refresh token (see the fixtures' README). */
const fixtureImports: { name: string; users: number; load(store: TokenStore, dir: string): Promise<unknown> }[] = [
  { name: "sdk_tokens.txt (the TS SDK's FileStore)", users: 10, load: (store) => importZohoFile(join(fixtures, "sdk_tokens.txt"), store) },
  {
    name: "zohooauth.db (Zoho's SQLite custom-store sample)",
    users: 2,
    async load(store, dir) {
      const copy = join(dir, "zohooauth.db");
      await copyFile(join(fixtures, "zohooauth.db"), copy);
      return importZohoSqliteTable({ path: copy }, store);
    },
  },
];

/**
 * The fixtures name Zoho's real API domains; Zoho's DataCenter.get maps those to its own cached
 * environments (`USDataCenter._PRODUCTION`, ...). Pointing those caches at the fake server keeps
 * the imported data as it is and keeps every request on 127.0.0.1.
 */
function pointDataCentersAt(fake: FakeZoho): () => void {
  const centers = [ZOHOCRMSDK.USDataCenter, ZOHOCRMSDK.EUDataCenter, ZOHOCRMSDK.INDataCenter, ZOHOCRMSDK.AUDataCenter, ZOHOCRMSDK.JPDataCenter, ZOHOCRMSDK.CNDataCenter, ZOHOCRMSDK.CADataCenter] as unknown as Record<string, unknown>[];
  const saved = centers.map((center) => ({ center, before: { ...center } }));
  for (const center of centers) {
    for (const key of ["_PRODUCTION", "_SANDBOX", "_DEVELOPER"]) center[key] = new ZOHOCRMSDK.Environment(fake.url, fake.accountsUrl, fake.url);
  }
  return () => {
    for (const { center, before } of saved) for (const key of ["_PRODUCTION", "_SANDBOX", "_DEVELOPER"]) center[key] = before[key];
  };
}

const kinds = await storeKinds();
describe("tokens imported from Zoho's stores are used by Zoho's TypeScript SDK without re-authorising", () => {
  let fake: FakeZoho;
  let h: SdkHarness;
  let restoreDataCenters: () => void;
  beforeAll(async () => {
    fake = await startFakeZoho();
    h = sdkHarness("typescript", ZOHOCRMSDK, fake);
    restoreDataCenters = pointDataCentersAt(fake);
  });
  afterAll(async () => {
    restoreDataCenters?.();
    await fake?.stop();
    await h?.dispose();
  });

  for (const kind of kinds) {
    if (kind.skip) console.warn(`\n*** SKIPPED: importing Zoho tokens into the ${kind.name} store: ${kind.skip} ***\n`);
    for (const fixture of fixtureImports) {
      describe.skipIf(kind.skip !== null)(`${fixture.name} into the ${kind.name} store${kind.skip ? ` (SKIPPED: ${kind.skip})` : ""}`, () => {
        let location: StoreLocation;
        let store: TokenStore;
        let dir: string;
        afterEach(async () => {
          await location.close(store).catch(() => {});
          await location.destroy();
          await rm(dir, { recursive: true, force: true });
        });

        it("each user's token is found by the user's signature and refreshed once with the stored refresh token", async () => {
          dir = await mkdtemp(join(tmpdir(), "tokenstore-zoho-import-"));
          location = await kind.location();
          store = await location.open();
          await fixture.load(store, dir);
          const imported = await store.getTokens();
          const users = imported.filter((t) => t.userName && t.clientId && t.clientSecret && t.refreshToken);
          expect(users).toHaveLength(fixture.users);
          for (const t of users) fake.knowRefreshToken(t.refreshToken!, { email: t.userName!, clientId: t.clientId!, clientSecret: t.clientSecret!, apiDomain: t.apiDomain ?? fake.url });

          for (const before of users) {
            fake.resetCounts();
            const expired = before.expiresAt === null || before.expiresAt - Date.now() < 5000;
            const token = new ZOHOCRMSDK.OAuthBuilder().clientId(before.clientId!).clientSecret(before.clientSecret!).userSignature(new ZOHOCRMSDK.UserSignature(before.userName!)).build();
            await h.boot(token, store);
            expect(await h.callApi()).toBe(200);
            expect(fake.counts.grant).toBe(0);
            expect(fake.counts.refresh).toBe(expired ? 1 : 0);
            const after = (await store.findTokenById(before.id))!;
            const api = fake.requests.filter((r) => r.endpoint === "org").at(-1);
            expect(api).toMatchObject({ user: before.userName, accessToken: after.accessToken });
            if (expired) {
              expect({ ...after }).toEqual({ ...before, accessToken: fake.issuedTo(before.userName!).access.at(-1), expiresAt: after.expiresAt });
              expect(after.expiresAt).toBeGreaterThan(Date.now() + 3_000_000);
            }
          }
          expect(await store.getTokens()).toHaveLength(imported.length);
        });

        it("a token without a user is found by its refresh token and refreshed, not re-authorised", async () => {
          dir = await mkdtemp(join(tmpdir(), "tokenstore-zoho-import-"));
          location = await kind.location();
          store = await location.open();
          await fixture.load(store, dir);
          const serverToken = (await store.getTokens()).find((t) => t.userName === null && t.refreshToken && t.clientId && t.clientSecret);
          expect(serverToken).toBeDefined();
          const email = "integration@example.com";
          fake.knowRefreshToken(serverToken!.refreshToken!, { email, clientId: serverToken!.clientId!, clientSecret: serverToken!.clientSecret!, apiDomain: serverToken!.apiDomain ?? fake.url });
          fake.resetCounts();
          const token = new ZOHOCRMSDK.OAuthBuilder().clientId(serverToken!.clientId!).clientSecret(serverToken!.clientSecret!).refreshToken(serverToken!.refreshToken!).build();
          await h.boot(token, store);
          expect(await h.callApi()).toBe(200);
          expect(fake.counts).toMatchObject({ grant: 0, refresh: 1 });
          expect(token.getId()).toBe(serverToken!.id);
          const after = (await store.findTokenById(serverToken!.id))!;
          // The SDK names the user (findUser) before saving the refreshed token.
          expect(after).toMatchObject({ userName: `${email}:10000001`, refreshToken: serverToken!.refreshToken, accessToken: fake.issuedTo(email).access.at(-1), apiDomain: serverToken!.apiDomain });
        });
      });
    }
  }
});

import type { TokenStore } from "@tokenstore/core";
import * as NODE_SDK from "@zohocrm/nodejs-sdk-8.0";
import * as TS_SDK from "@zohocrm/typescript-sdk-8.0";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeZoho, type FakeZoho } from "./fake-zoho.js";
import { newUser, sdkHarness, type SdkHarness } from "./sdk-harness.js";
import { storeKinds, type StoreLocation } from "./store-kinds.js";

// Two apps on one store location, each with its own store instance and its own Zoho SDK (the
// TypeScript SDK and the Node.js SDK keep separate Initializers): the store is what they share.

const kinds = await storeKinds();
describe("two apps (TypeScript SDK and Node.js SDK) sharing one store", () => {
  let fake: FakeZoho;
  let tsApp: SdkHarness;
  let nodeApp: SdkHarness;
  beforeAll(async () => {
    fake = await startFakeZoho();
    tsApp = sdkHarness("typescript", TS_SDK, fake);
    nodeApp = sdkHarness("nodejs", NODE_SDK, fake);
  });
  afterAll(async () => {
    await fake?.stop();
    await tsApp?.dispose();
    await nodeApp?.dispose();
  });

  for (const kind of kinds) {
    if (kind.skip) console.warn(`\n*** SKIPPED: two SDK apps sharing the ${kind.name} store: ${kind.skip} ***\n`);
    describe.skipIf(kind.skip !== null)(`on the ${kind.name} store${kind.skip ? ` (SKIPPED: ${kind.skip})` : ""}`, () => {
      let location: StoreLocation;
      const open: TokenStore[] = [];
      afterEach(async () => {
        for (const store of open.splice(0)) await location.close(store).catch(() => {});
        await location.destroy();
      });

      it("a token saved by one app is used by the other, and a refresh by one is picked up by the other", async () => {
        location = await kind.location();
        const tsStore = await location.open();
        const nodeStore = await location.open();
        open.push(tsStore, nodeStore);
        const user = newUser("shared");

        await tsApp.boot(tsApp.grantToken(user, fake.grantCode(user), user.email), tsStore);
        const [saved] = await tsStore.getTokens();
        fake.resetCounts();
        await nodeApp.boot(nodeApp.userToken(user, user.email), nodeStore);
        expect(await nodeApp.callApi()).toBe(200);
        expect(fake.tokenRequests).toBe(0);
        expect(fake.requests.at(-1)).toMatchObject({ endpoint: "org", user: user.email, accessToken: saved!.accessToken });

        // The token is about to expire: the Node app refreshes it; the TS app then reads the
        // refreshed token from the store (by id, before its next call) instead of refreshing again.
        await nodeStore.saveToken({ id: saved!.id, expiresAt: Date.now() + 1000 });
        expect(await nodeApp.callApi()).toBe(200);
        expect(fake.counts.refresh).toBe(1);
        const refreshed = (await tsStore.findTokenById(saved!.id))!;
        expect(refreshed.accessToken).not.toBe(saved!.accessToken);
        expect(await tsApp.callApi()).toBe(200);
        expect(fake.counts.refresh).toBe(1);
        expect(fake.requests.at(-1)).toMatchObject({ endpoint: "org", user: user.email, accessToken: refreshed.accessToken });
        expect(await tsStore.getTokens()).toEqual([refreshed]);
      });
    });
  }
});

import type { Token, TokenStore } from "@tokenstore/core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sdkUserName, startFakeZoho, type FakeUser, type FakeZoho } from "./fake-zoho.js";
import { newUser, sdkHarness, type SdkHarness } from "./sdk-harness.js";
import { storeKinds, type StoreLocation } from "./store-kinds.js";

const HOUR = 3600 * 1000;

/**
 * The end-to-end life of a Zoho app on every store, through Zoho's real SDK: first start,
 * restart, refresh, two users. "Restart" means what a new process does: a new store instance on
 * the same location, a new OAuthToken built from configuration, a new Initializer.
 */
export async function describeSdkScenarios(name: SdkHarness["name"], sdk: unknown): Promise<void> {
  const kinds = await storeKinds();
  let fake: FakeZoho;
  let h: SdkHarness;
  beforeAll(async () => {
    fake = await startFakeZoho();
    h = sdkHarness(name, sdk, fake);
  });
  afterAll(async () => {
    await fake?.stop();
    await h?.dispose();
  });

  for (const kind of kinds) {
    if (kind.skip) console.warn(`\n*** SKIPPED: Zoho ${name} SDK with the ${kind.name} store: ${kind.skip} ***\n`);
    describe.skipIf(kind.skip !== null)(`Zoho ${name} SDK 8.0 with the ${kind.name} store${kind.skip ? ` (SKIPPED: ${kind.skip})` : ""}`, () => {
      let location: StoreLocation;
      const open: TokenStore[] = [];
      const openStore = async () => {
        const store = await location.open();
        open.push(store);
        return store;
      };
      /** A new process on the same location: the old store instance is closed first. */
      const restart = async (store: TokenStore) => {
        await location.close(store);
        fake.resetCounts();
        return openStore();
      };
      beforeEach(async () => {
        location = await kind.location();
      });
      afterEach(async () => {
        for (const store of open.splice(0)) await location.close(store).catch(() => {});
        await location.destroy();
      });

      /** The app's first start: it has only its client credentials and the user's grant code. */
      async function firstStart(store: TokenStore, user: FakeUser, signature?: string, sameProcess = false): Promise<Token> {
        fake.resetCounts();
        const code = fake.grantCode(user);
        await (sameProcess ? h.initialize : h.boot)(h.grantToken(user, code, signature), store);
        const tokens = await store.getTokens();
        const mine = tokens.filter((t) => t.clientId === user.clientId && t.userName === (signature ?? sdkUserName(user)));
        expect(mine).toHaveLength(1);
        return mine[0]!;
      }

      function lastApiCall() {
        return fake.requests.filter((r) => r.endpoint === "org").at(-1);
      }

      it("first start exchanges the grant code once and saves the token the SDK then uses", async () => {
        const store = await openStore();
        const user = newUser("first");
        const code = fake.grantCode(user);
        const token = h.grantToken(user, code);
        fake.resetCounts();
        const before = Date.now();
        await h.boot(token, store);
        const after = Date.now();

        expect(fake.counts.grant).toBe(1);
        expect(fake.counts.refresh).toBe(0);
        expect(fake.counts.currentUser).toBe(1); // the SDK's findUser lookup names the user before saving
        const tokens = await store.getTokens();
        expect(tokens).toHaveLength(1);
        const saved = tokens[0]!;
        const issued = fake.issuedTo(user.email);
        expect({ ...saved }).toEqual({
          id: saved.id,
          userName: sdkUserName(user), // Zoho SDK 8.0 names the user "<email>:<org zgid>"
          clientId: user.clientId,
          clientSecret: user.clientSecret,
          refreshToken: issued.refresh[0],
          accessToken: issued.access[0],
          grantToken: code,
          expiresAt: saved.expiresAt,
          redirectUrl: null,
          apiDomain: fake.url,
        });
        expect(saved.expiresAt).toBeGreaterThanOrEqual(before + HOUR);
        expect(saved.expiresAt).toBeLessThanOrEqual(after + HOUR);
        expect(token.getId()).toBe(saved.id); // the SDK keeps using the id the store assigned

        expect(await h.callApi()).toBe(200);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ user: user.email, accessToken: saved.accessToken });
        expect(fake.tokenRequests).toBe(1);
        expect(await store.getTokens()).toEqual(tokens);
      });

      it("a restart with only the user signature and client credentials finds the token without calling the accounts server", async () => {
        let store = await openStore();
        const user = newUser("restart");
        const saved = await firstStart(store, user);

        store = await restart(store);
        const token = h.userToken(user, sdkUserName(user));
        await h.boot(token, store);
        expect(await h.callApi()).toBe(200);
        expect(await h.callApi()).toBe(200);
        expect(fake.tokenRequests).toBe(0);
        expect(fake.counts.currentUser).toBe(0);
        expect(lastApiCall()).toMatchObject({ user: user.email, accessToken: saved.accessToken });
        expect(token.getId()).toBe(saved.id);
        expect(await store.getTokens()).toEqual([saved]);

        // An app that still passes its (used) grant code at boot finds the token by that code.
        store = await restart(store);
        await h.boot(h.grantToken(user, saved.grantToken!), store);
        expect(await h.callApi()).toBe(200);
        expect(fake.tokenRequests).toBe(0);
        expect(await store.getTokens()).toEqual([saved]);
      });

      it("an expired token is refreshed exactly once; the new access token and expiry are saved, the refresh token kept", async () => {
        let store = await openStore();
        const user = newUser("expired");
        const saved = await firstStart(store, user);
        await store.saveToken({ id: saved.id, expiresAt: Date.now() - 60_000 });

        store = await restart(store);
        const before = Date.now();
        await h.boot(h.userToken(user, sdkUserName(user)), store);
        const after = Date.now();
        expect(await h.callApi()).toBe(200);
        expect(await h.callApi()).toBe(200);
        expect(fake.counts.refresh).toBe(1);
        expect(fake.counts.grant).toBe(0);
        const [refreshed, ...others] = await store.getTokens();
        expect(others).toEqual([]);
        const newAccess = fake.issuedTo(user.email).access.at(-1);
        expect(newAccess).not.toBe(saved.accessToken);
        expect({ ...refreshed }).toEqual({ ...saved, accessToken: newAccess, expiresAt: refreshed!.expiresAt });
        expect(refreshed!.expiresAt).toBeGreaterThanOrEqual(before + HOUR);
        expect(refreshed!.expiresAt).toBeLessThanOrEqual(after + HOUR);
        expect(lastApiCall()).toMatchObject({ user: user.email, accessToken: newAccess });

        // While the app runs, the SDK reads the store by id before every call: expiring the token
        // there makes the next call refresh it (once) and save the result.
        await store.saveToken({ id: saved.id, expiresAt: Date.now() + 1000 });
        expect(await h.callApi()).toBe(200);
        expect(await h.callApi()).toBe(200);
        expect(fake.counts.refresh).toBe(2);
        const latest = (await store.findTokenById(saved.id))!;
        expect(latest.accessToken).toBe(fake.issuedTo(user.email).access.at(-1));
        expect(latest.refreshToken).toBe(saved.refreshToken);
        expect(latest.expiresAt).toBeGreaterThan(Date.now() + HOUR - 60_000);
        expect(lastApiCall()).toMatchObject({ user: user.email, accessToken: latest.accessToken });
      });

      it("one user in two apps (client ids) keeps one token per app (Zoho's stores would mix them)", async () => {
        let store = await openStore();
        const crm = newUser("ana");
        const books = { ...newUser("other"), email: crm.email };
        const crmSaved = await firstStart(store, crm, crm.email);
        const booksSaved = await firstStart(store, books, books.email);
        expect(booksSaved.id).not.toBe(crmSaved.id);
        expect(await store.findTokenById(crmSaved.id)).toEqual(crmSaved);

        store = await restart(store);
        await h.boot(h.userToken(books, books.email), store);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ accessToken: booksSaved.accessToken });
        await h.boot(h.userToken(crm, crm.email), store);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ accessToken: crmSaved.accessToken });
        expect(fake.tokenRequests).toBe(0);
        expect(await store.getTokens()).toEqual([crmSaved, booksSaved]);
      });

      it("two users of one app keep their own tokens, across restarts and refreshes", async () => {
        let store = await openStore();
        const ana = newUser("ana");
        const bo = newUser("bo", ana);
        // Passing the signature at first start skips the SDK's lookup: the user is named by email.
        const anaSaved = await firstStart(store, ana, ana.email);
        expect(fake.counts.currentUser).toBe(0);
        const boSaved = await firstStart(store, bo, bo.email, true); // a second user joins the running app
        expect(anaSaved.id).not.toBe(boSaved.id);
        expect(anaSaved.refreshToken).not.toBe(boSaved.refreshToken);
        expect(await store.getTokens()).toEqual([anaSaved, boSaved]);

        store = await restart(store);
        await h.boot(h.userToken(ana, ana.email), store);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ user: ana.email, accessToken: anaSaved.accessToken });
        await h.initialize(h.userToken(bo, bo.email), store);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ user: bo.email, accessToken: boSaved.accessToken });
        if (h.switchUser) {
          await h.switchUser(h.userToken(ana, ana.email));
          expect(await h.callApi()).toBe(200);
          expect(lastApiCall()).toMatchObject({ user: ana.email, accessToken: anaSaved.accessToken });
        }
        expect(fake.tokenRequests).toBe(0);

        // Bo's token expires: only Bo's is refreshed, Ana's stays as it was.
        await store.saveToken({ id: boSaved.id, expiresAt: Date.now() - 1000 });
        store = await restart(store);
        await h.boot(h.userToken(bo, bo.email), store);
        expect(await h.callApi()).toBe(200);
        expect(fake.counts.refresh).toBe(1);
        const boNow = (await store.findTokenById(boSaved.id))!;
        expect(boNow.accessToken).toBe(fake.issuedTo(bo.email).access.at(-1));
        expect(boNow.refreshToken).toBe(boSaved.refreshToken);
        expect(lastApiCall()).toMatchObject({ user: bo.email, accessToken: boNow.accessToken });
        expect(await store.findTokenById(anaSaved.id)).toEqual(anaSaved);
        await h.initialize(h.userToken(ana, ana.email), store);
        expect(await h.callApi()).toBe(200);
        expect(lastApiCall()).toMatchObject({ user: ana.email, accessToken: anaSaved.accessToken });
        expect(fake.counts.refresh).toBe(1);
        expect(await store.getTokens()).toHaveLength(2);
      });
    });
  }
}

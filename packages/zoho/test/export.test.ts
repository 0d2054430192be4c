import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTokenStoreError, type PartialToken, type Token } from "@tokenstore/core";
import { MemoryTokenStore } from "@tokenstore/memory";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatZohoTokenFile, parseZohoTokenFile, readZohoTokenFile, writeZohoTokenFile, ZOHO_FILE_HEADER, ZohoExportError } from "../src/formats.js";
import { exportZohoFile, importZohoFile } from "../src/importers.js";
import { sampleToken } from "@tokenstore/conformance";

const FIXTURE = fileURLToPath(new URL("../../../fixtures/zoho/sdk_tokens.txt", import.meta.url));

/** A complete token with a Zoho id: the conformance suite's sample token. */
const full = (id: string, n: number, overrides: PartialToken = {}): PartialToken => sampleToken(n, { id, apiDomain: "https://www.zohoapis.eu", ...overrides });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zoho-export-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("formatZohoTokenFile", () => {
  it("writes the NODE8 header, LF, no quoting, no trailing newline, empty fields for null", () => {
    const text = formatZohoTokenFile([full("1", 1), { id: "2", accessToken: "1000.at.bare" }]);
    expect(text).toBe(
      `${ZOHO_FILE_HEADER}\n` +
        "1,user1@example.com,1000.CLIENT,secret-1,1000.rt.1,1000.at.1,1000.gt.1,1767225600001,https://app.example.com/oauth/callback,https://www.zohoapis.eu\n" +
        "2,,,,,1000.at.bare,,,,",
    );
    expect(formatZohoTokenFile([])).toBe(ZOHO_FILE_HEADER);
  });

  it("refuses values Zoho cannot read back, naming token id and field but never the value", () => {
    const bad = [
      full("1", 1, { redirectUrl: "https://app.example.com/cb?a=1,b=2" }),
      full("2", 2, { clientSecret: 'sec"QQQ' }),
      full("3", 3, { accessToken: "at\r\nX" }),
      full("4", 4),
      full("5", 5, { clientSecret: "" }),
    ];
    const error = thrown(() => formatZohoTokenFile(bad));
    expect(error).toBeInstanceOf(ZohoExportError);
    expect(isTokenStoreError(error, "INVALID_TOKEN")).toBe(true);
    const { problems, message } = error as ZohoExportError;
    expect(problems).toEqual([
      { id: "1", field: "redirectUrl", reason: "contains a comma" },
      { id: "2", field: "clientSecret", reason: "contains a double quote" },
      { id: "3", field: "accessToken", reason: "contains a carriage return" },
      { id: "3", field: "accessToken", reason: "contains a line feed" },
      { id: "5", field: "clientSecret", reason: "is an empty string, which Zoho reads back as null" },
    ]);
    expect(message).toContain('token "1" field "redirectUrl" contains a comma');
    for (const secret of ["a=1", "QQQ", "at\r", "1000.at.3"]) expect(message).not.toContain(secret);
  });

  it("refuses ids that are not Zoho ids (decimal, at most 10 characters)", () => {
    for (const id of ["nodejs_user@example.com_PRODUCTION_abcd", "12345678901", "1a", "", "-1"]) {
      const error = thrown(() => formatZohoTokenFile([full(id, 1)]));
      expect(error, id).toBeInstanceOf(ZohoExportError);
      expect((error as ZohoExportError).problems[0]).toMatchObject({ field: "id" });
    }
    expect(() => formatZohoTokenFile([full("1234567890", 1)])).not.toThrow();
  });
});

describe("writeZohoTokenFile / exportZohoFile", () => {
  it("round-trips: export → parse gives the same tokens (fixture and a full token set)", async () => {
    const fixture = await readZohoTokenFile(FIXTURE);
    const path = join(dir, "sdk_tokens.txt");
    await writeZohoTokenFile(path, fixture.records.map((r) => r.token));
    const again = await readZohoTokenFile(path);
    expect(again.records.map((r) => r.token)).toEqual(fixture.records.map((r) => r.token));
    expect(again.skipped).toEqual([]);
    expect(again.warnings).toEqual([]);

    const tokens = [full("1", 1), full("2", 2, { userName: "o'neil@example.net", grantToken: null, expiresAt: 0 }), full("10", 3, { redirectUrl: null, apiDomain: null })];
    const text = formatZohoTokenFile(tokens);
    expect(parseZohoTokenFile(text).records.map((r) => r.token)).toEqual(tokens);
  });

  it("exports a store: the fixture imported into a store and exported again is byte-for-byte Zoho's content", async () => {
    const store = new MemoryTokenStore();
    await importZohoFile(FIXTURE, store);
    const path = join(dir, "out.txt");
    expect(await exportZohoFile(store, path)).toBe(12);
    const fixtureText = readFileSync(FIXTURE, "utf8");
    // Only the header differs: the fixture (TS8) names column two user_mail, we write NODE8's user_name.
    expect(readFileSync(path, "utf8")).toBe(fixtureText.replace(/^[^\n]*/, ZOHO_FILE_HEADER));
  });

  it("writes atomically with mode 0600, replaces an existing file, and leaves no temp file", async () => {
    const path = join(dir, "sdk_tokens.txt");
    writeFileSync(path, "old content", { mode: 0o644 });
    await writeZohoTokenFile(path, [full("1", 1)]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8").startsWith(ZOHO_FILE_HEADER)).toBe(true);
    expect(readdirSync(dir)).toEqual(["sdk_tokens.txt"]);
  });

  it("a refused export writes nothing and keeps the old file", async () => {
    const path = join(dir, "sdk_tokens.txt");
    writeFileSync(path, "old content");
    await expect(writeZohoTokenFile(path, [full("1", 1), full("2", 2, { apiDomain: "a,b" })])).rejects.toBeInstanceOf(ZohoExportError);
    expect(readFileSync(path, "utf8")).toBe("old content");
    expect(readdirSync(dir)).toEqual(["sdk_tokens.txt"]);
  });
});

/** Zoho's own FileStore classes, loaded from the installed SDKs. */
const requireFromHere = createRequire(import.meta.url);
const SDKS = [
  ["typescript-sdk-8.0", "@zohocrm/typescript-sdk-8.0/dist"],
  ["nodejs-sdk-8.0", "@zohocrm/nodejs-sdk-8.0/lib"],
] as const;

interface ZohoToken {
  getId(): string | null;
  getUserSignature(): { getName(): string } | null;
  setUserSignature(signature: unknown): void;
  setClientId(v: string | null): void;
  setClientSecret(v: string | null): void;
  setRefreshToken(v: string | null): void;
  setAccessToken(v: string | null): void;
  getClientId(): string | null;
  getClientSecret(): string | null;
  getRefreshToken(): string | null;
  getAccessToken(): string | null;
  getGrantToken(): string | null;
  getExpiresIn(): string | null;
  getRedirectURL(): string | null;
  getAPIDomain(): string | null;
}

describe.each(SDKS)("Zoho's own FileStore (%s) reads an exported file", (_name, base) => {
  const { FileStore } = requireFromHere(`${base}/models/authenticator/store/file_store.js`);
  const { OAuthToken } = requireFromHere(`${base}/models/authenticator/oauth_token.js`);
  const { UserSignature } = requireFromHere(`${base}/routes/user_signature.js`);
  const blank = (): ZohoToken => Reflect.construct(OAuthToken, []);

  /** What Zoho sees, as our field names (Zoho turns empty client credentials into "" or null). */
  const view = (t: ZohoToken) => ({
    id: t.getId(),
    userName: t.getUserSignature()?.getName() ?? null,
    clientId: t.getClientId() || null,
    clientSecret: t.getClientSecret() || null,
    refreshToken: t.getRefreshToken(),
    accessToken: t.getAccessToken(),
    grantToken: t.getGrantToken(),
    expiresAt: t.getExpiresIn() === null || t.getExpiresIn() === undefined ? null : Number(t.getExpiresIn()),
    redirectUrl: t.getRedirectURL(),
    apiDomain: t.getAPIDomain(),
  });

  it("getTokens, findToken (by user, access token, refresh token) and findTokenById give the exported values", async () => {
    const store = new MemoryTokenStore();
    await importZohoFile(FIXTURE, store);
    await store.saveToken(full("13", 13, { userName: "late@example.com", expiresAt: 1_800_000_000_123 }));
    const path = join(dir, "sdk_tokens.txt");
    await exportZohoFile(store, path);
    const mine = (await store.getTokens()).map((t: Token) => ({ ...t }));

    const zoho = new FileStore(path);
    const theirs = (await zoho.getTokens()) as ZohoToken[];
    expect(theirs.map(view)).toEqual(mine);

    const byUser = blank();
    byUser.setUserSignature(new UserSignature("o'neil@example.net"));
    expect(view((await zoho.findToken(byUser)) as ZohoToken)).toEqual(mine.find((t) => t.id === "5"));

    const byAccess = blank();
    byAccess.setAccessToken("1000.at.bare.0001");
    expect(view((await zoho.findToken(byAccess)) as ZohoToken)).toEqual(mine.find((t) => t.id === "4"));

    const byRefresh = blank();
    byRefresh.setClientId("1000.BULKCLIENT");
    byRefresh.setClientSecret("bulksecret");
    byRefresh.setRefreshToken("1000.rt.bulk.3");
    expect(((await zoho.findToken(byRefresh)) as ZohoToken).getId()).toBe("9");

    expect(view((await zoho.findTokenById("13")) as ZohoToken)).toEqual(mine.find((t) => t.id === "13"));
    expect(view((await zoho.findTokenById("1")) as ZohoToken)).toMatchObject({ accessToken: "1000.at.ana.0002", expiresAt: 1767232800000 });
    // The SDK's constructor leaves a 10-column file alone.
    expect(readFileSync(path, "utf8").split("\n")).toHaveLength(14);
  });
});

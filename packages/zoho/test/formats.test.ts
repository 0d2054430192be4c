import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isTokenStoreError } from "@tokenstore/core";
import { describe, expect, it } from "vitest";
import { parseExpiry, parseZohoTokenFile, readZohoTokenFile, ZOHO_FILE_HEADER, type ZohoSource } from "../src/formats.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/zoho/", import.meta.url));
const TS8_HEADER = "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";
const PY8_HEADER = "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain";
const NINE_HEADER = "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url";

const row = (id: string, user: string, n: number, extra = "https://www.zohoapis.com") =>
  `${id},${user},1000.C,sec${n},1000.rt.${n},1000.at.${n},,1767225600000,https://app.example.com/cb,${extra}`;

const ids = (s: ZohoSource) => s.records.map((r) => r.token.id);
const users = (s: ZohoSource) => s.records.map((r) => r.token.userName);
/** Every message a source carries, to check that no secret leaks into them. */
const messages = (s: ZohoSource) => JSON.stringify([s.skipped, s.notes, s.warnings]);

describe("parseZohoTokenFile", () => {
  it("reads the TS8 fixture: 12 tokens, ids and every value as written, nothing skipped", async () => {
    const source = await readZohoTokenFile(`${FIXTURES}sdk_tokens.txt`);
    expect(source.skipped).toEqual([]);
    expect(source.notes).toEqual([]);
    expect(source.warnings).toEqual([]);
    expect(ids(source)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(source.records[0]).toEqual({
      line: 2,
      token: {
        id: "1",
        userName: "ana.lima@example.com",
        clientId: "1000.ANA0CLIENT",
        clientSecret: "secretana0001",
        refreshToken: "1000.rt.ana.0001",
        accessToken: "1000.at.ana.0002",
        grantToken: "1000.gt.ana.0001",
        expiresAt: 1767232800000,
        redirectUrl: "https://app.example.com/oauth/callback",
        apiDomain: "https://www.zohoapis.com",
      },
    });
    const bare = source.records[3]!.token;
    expect(bare).toMatchObject({ id: "4", userName: null, clientId: null, accessToken: "1000.at.bare.0001", expiresAt: null, apiDomain: null });
    expect(source.records[4]!.token.userName).toBe("o'neil@example.net");
    expect(source.records[11]!.token.apiDomain).toBe("https://www.zohoapis.com");
  });

  it("reads Python SDK files: CRLF after every row, RFC 4180 quoting, redirect_uri header", () => {
    const text =
      `${PY8_HEADER}\r\n` +
      `1,py@example.com,1000.C,sec1,1000.rt.1,1000.at.1,,1767225600000,"https://app.example.com/cb?a=1,b=2",https://www.zohoapis.eu\r\n` +
      `2,"quoted ""name""@example.com",1000.C,sec2,1000.rt.2,1000.at.2,,1767225600000,,https://www.zohoapis.com\r\n`;
    const source = parseZohoTokenFile(text);
    expect(source.skipped).toEqual([]);
    expect(source.records.map((r) => r.token.redirectUrl)).toEqual(["https://app.example.com/cb?a=1,b=2", null]);
    expect(source.records.map((r) => r.token.apiDomain)).toEqual(["https://www.zohoapis.eu", "https://www.zohoapis.com"]);
    expect(users(source)).toEqual(["py@example.com", 'quoted "name"@example.com']);
    expect(source.records.map((r) => r.line)).toEqual([2, 3]);
  });

  it("keeps line numbers right across a quoted field that spans lines", () => {
    const source = parseZohoTokenFile(`${PY8_HEADER}\n1,"two\nlines",1000.C,s,1000.rt.1,,,,,\n2,x,1000.C,s,1000.rt.2,,,bad,,`);
    expect(source.records[0]!.token.userName).toBe("two\nlines");
    expect(source.skipped).toEqual([{ line: 4, id: "2", reason: expect.stringContaining("expiry_time") }]);
  });

  it("reads nine-column files of older SDKs with api_domain null", () => {
    const source = parseZohoTokenFile(`${NINE_HEADER}\n1,a@example.com,1000.C,s,1000.rt.1,1000.at.1,,1767225600000,https://app.example.com/cb`);
    expect(source.skipped).toEqual([]);
    expect(source.records[0]!.token).toMatchObject({ id: "1", userName: "a@example.com", redirectUrl: "https://app.example.com/cb", apiDomain: null });
    expect(source.warnings).toEqual([expect.stringContaining("no column for apiDomain")]);
  });

  it("reads the legacy seven-column layout by its column names", () => {
    const source = parseZohoTokenFile("id,user_mail,client_id,refresh_token,access_token,grant_token,expiry_time\n7,old@example.com,1000.C,1000.rt.7,1000.at.7,,1767225600000");
    expect(source.records[0]!.token).toMatchObject({ id: "7", userName: "old@example.com", clientId: "1000.C", clientSecret: null, refreshToken: "1000.rt.7", accessToken: "1000.at.7", expiresAt: 1767225600000 });
  });

  it("maps a header by name in any order, and reads unknown header names by position, with a warning", () => {
    const reordered = parseZohoTokenFile("user_name,id,api_domain,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url\na@example.com,3,https://www.zohoapis.eu,1000.C,s,1000.rt.3,,,,");
    expect(reordered.records[0]!.token).toMatchObject({ id: "3", userName: "a@example.com", apiDomain: "https://www.zohoapis.eu", refreshToken: "1000.rt.3" });
    expect(reordered.warnings).toEqual([]);
    const renamed = parseZohoTokenFile(`ID,email,client,secret,refresh,access,grant,expiry,redirect,domain\n${row("1", "a@example.com", 1)}`);
    expect(renamed.records[0]!.token).toMatchObject({ id: "1", userName: "a@example.com", apiDomain: "https://www.zohoapis.com" });
    expect(renamed.warnings).toEqual([expect.stringContaining("read by position")]);
  });

  it("skips rows with the wrong number of fields, reporting line and id but no value", () => {
    const source = parseZohoTokenFile(`${TS8_HEADER}\n${row("1", "a@example.com", 1)}\n2,b@example.com,1000.C,topsecret,1000.rt.2\n${row("3", "c@example.com", 3)},extra`);
    expect(ids(source)).toEqual(["1"]);
    expect(source.skipped).toEqual([
      { line: 3, id: "2", reason: "has 5 fields, expected 10" },
      { line: 4, id: "3", reason: "has 11 fields, expected 10" },
    ]);
    expect(messages(source)).not.toMatch(/topsecret|1000\.rt|sec3/);
  });

  it("expiry_time: empty is null, seconds are converted with a note, anything else skips the row", () => {
    expect(parseExpiry(null)).toEqual({ value: null });
    expect(parseExpiry("1767225600000")).toEqual({ value: 1767225600000 });
    expect(parseExpiry("0")).toEqual({ value: 0 });
    expect(parseExpiry("1767225600")).toMatchObject({ value: 1767225600000, note: expect.stringContaining("seconds") });
    for (const bad of ["2026-01-01T00:00:00Z", "-5", "1.7e12", " 1767225600000", "17672256000000000000", "soon"]) {
      expect(parseExpiry(bad)).toHaveProperty("error");
    }
    const r = (id: string, expiry: string) => `${id},u${id}@example.com,1000.C,sec${id},1000.rt.${id},1000.at.${id},,${expiry},,`;
    const source = parseZohoTokenFile(`${TS8_HEADER}\n${r("1", "1767225600")}\n${r("2", "tomorrow")}\n${r("3", "")}`);
    expect(source.records.map((x) => [x.token.id, x.token.expiresAt])).toEqual([["1", 1767225600000], ["3", null]]);
    expect(source.notes).toEqual([{ line: 2, id: "1", reason: expect.stringContaining("looks like seconds") }]);
    expect(source.skipped).toEqual([{ line: 3, id: "2", reason: "has an expiry_time that is not a decimal number of milliseconds" }]);
  });

  it("keeps legacy non-numeric ids, with a note", () => {
    const legacy = "nodejs_a@example.com_PRODUCTION_0123456789abcdef0123456789abcdef";
    const source = parseZohoTokenFile(`${NINE_HEADER}\n${legacy},a@example.com,1000.C,s,1000.rt.1,1000.at.1,,1767225600000,`);
    expect(ids(source)).toEqual([legacy]);
    expect(source.notes).toEqual([{ line: 2, id: legacy, reason: expect.stringContaining("legacy") }]);
  });

  it("duplicate ids (old SDK bug): the first keeps the id, a later different token gets a new one", () => {
    const source = parseZohoTokenFile([TS8_HEADER, row("9", "a@example.com", 1), row("10", "b@example.com", 2), row("10", "c@example.com", 3)].join("\n"));
    expect(source.records.map((r) => [r.line, r.token.id, r.token.userName])).toEqual([
      [2, "9", "a@example.com"],
      [3, "10", "b@example.com"],
      [4, null, "c@example.com"],
    ]);
    expect(source.notes).toEqual([{ line: 4, id: "10", reason: expect.stringContaining("repeats the id of line 3") }]);
  });

  it("a later row with the same user + client or the same refresh token is skipped: Zoho reads the first", () => {
    const source = parseZohoTokenFile([TS8_HEADER, row("1", "a@example.com", 1), row("2", "a@example.com", 2), row("3", "b@example.com", 1)].join("\n"));
    expect(ids(source)).toEqual(["1"]);
    expect(source.skipped).toEqual([
      { line: 3, id: "2", reason: expect.stringContaining("same user name and client id as line 2") },
      { line: 4, id: "3", reason: expect.stringContaining("as line 2") },
    ]);
  });

  it("the same user under two clients is two tokens", () => {
    const source = parseZohoTokenFile(`${TS8_HEADER}\n${row("1", "a@example.com", 1)}\n${row("2", "a@example.com", 2).replace("1000.C", "1000.D")}`);
    expect(ids(source)).toEqual(["1", "2"]);
  });

  it("ignores blank lines and a trailing newline", () => {
    const source = parseZohoTokenFile(`\n${TS8_HEADER}\n\n${row("1", "a@example.com", 1)}\n   \n\r\n${row("2", "b@example.com", 2)}\n`);
    expect(ids(source)).toEqual(["1", "2"]);
    expect(source.skipped).toEqual([]);
    expect(source.records.map((r) => r.line)).toEqual([4, 7]);
  });

  it("a header-only file holds no tokens and nothing to report; so do an empty file and one holding only a newline, with a warning", () => {
    for (const header of [TS8_HEADER, ZOHO_FILE_HEADER, PY8_HEADER, `${ZOHO_FILE_HEADER}\n`]) {
      expect(parseZohoTokenFile(header)).toEqual({ kind: "file", records: [], skipped: [], notes: [], warnings: [] });
    }
    expect(parseZohoTokenFile(NINE_HEADER)).toMatchObject({ records: [], skipped: [] });
    expect(parseZohoTokenFile("")).toMatchObject({ records: [], skipped: [], warnings: [expect.stringContaining("empty")] });
    expect(parseZohoTokenFile("\n")).toMatchObject({ records: [], skipped: [], warnings: [expect.stringContaining("no header")] });
  });

  it("a file whose first line is a token row (Zoho bug: the file held only a newline) reads that row too, with the lowest precedence", () => {
    const first = row("1", "a@example.com", 1);
    const again = row("1", "a@example.com", 2); // Zoho never found line 1, so it saved the user again under id 1
    const other = row("2", "b@example.com", 3);
    const source = parseZohoTokenFile([first, again, other].join("\n"));
    expect(source.warnings).toEqual([expect.stringContaining("line 1 is a token row")]);
    expect(source.records.map((r) => [r.line, r.token.id, r.token.accessToken])).toEqual([
      [2, "1", "1000.at.2"],
      [3, "2", "1000.at.3"],
    ]);
    expect(source.skipped).toEqual([{ line: 1, id: "1", reason: expect.stringContaining("as line 2") }]);
    // Alone, the line-1 row is simply read.
    expect(ids(parseZohoTokenFile(first))).toEqual(["1"]);
  });

  it("reports an unterminated quote and text after a closing quote", () => {
    const source = parseZohoTokenFile(`${PY8_HEADER}\n${row("1", "a@example.com", 1)}\n2,"b@example.com"x,1000.C,s,1000.rt.2,,,,,\n3,"never closed,1000.C\n4,d,,,,,,,,`);
    expect(ids(source)).toEqual(["1"]);
    expect(source.skipped).toEqual([
      { line: 3, id: "2", reason: "has text after a closing quote" },
      { line: 4, id: null, reason: expect.stringContaining("never closed") },
    ]);
  });

  it("rows without an id get a new id (note) when they have a key, and are skipped when they have none", () => {
    const source = parseZohoTokenFile(`${TS8_HEADER}\n,a@example.com,1000.C,s,1000.rt.1,,,,,\n,,1000.C,,,,,,,https://www.zohoapis.com\n,,,,,,,,,`);
    expect(source.records.map((r) => [r.token.id, r.token.userName])).toEqual([[null, "a@example.com"]]);
    expect(source.notes).toEqual([{ line: 2, id: null, reason: expect.stringContaining("new one") }]);
    expect(source.skipped).toEqual([
      { line: 3, id: null, reason: expect.stringContaining("no id and no key") },
      { line: 4, id: null, reason: "empty row (every field is empty)" },
    ]);
  });

  it("rejects values a store cannot hold (NUL) per row, and input that is not a Zoho file as a whole", () => {
    const source = parseZohoTokenFile(`${TS8_HEADER}\n1,a\u0000b@example.com,1000.C,s,1000.rt.1,,,,,`);
    expect(source.skipped).toEqual([{ line: 2, id: "1", reason: expect.stringContaining("NUL") }]);
    for (const bad of ["name,email,phone\nx,y,z", new Uint8Array([0x69, 0x64, 0xff, 0xfe])]) {
      let error: unknown;
      try {
        parseZohoTokenFile(bad);
      } catch (e) {
        error = e;
      }
      expect(isTokenStoreError(error, "CORRUPT_DATA")).toBe(true);
    }
  });

  it("reads bytes with a BOM", () => {
    const bytes = Buffer.from(`\uFEFF${TS8_HEADER}\n${row("1", "a@example.com", 1)}`, "utf8");
    expect(ids(parseZohoTokenFile(bytes))).toEqual(["1"]);
  });

  it("fixture bytes and fixture text parse the same", () => {
    const bytes = readFileSync(`${FIXTURES}sdk_tokens.txt`);
    expect(parseZohoTokenFile(bytes)).toEqual(parseZohoTokenFile(bytes.toString("utf8")));
  });
});

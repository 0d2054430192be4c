import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isTokenStoreError, type TokenStoreErrorCode } from "@tokenstore/core";
import { FILE_FORMAT, FILE_VERSION, FileTokenStore, createFileStore } from "../src/index.js";

let dir: string;
let path: string;
const stores: FileTokenStore[] = [];

function openStore(options: Partial<ConstructorParameters<typeof FileTokenStore>[0]> = {}): FileTokenStore {
  const store = createFileStore({ path, ...options });
  stores.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokenstore-file-"));
  path = join(dir, "tokens.json");
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

const SECRET = "1000.at.TOP-SECRET-VALUE";

async function expectError(promise: Promise<unknown>, code: TokenStoreErrorCode): Promise<Error> {
  const error = await promise.then(
    () => expect.fail(`expected ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  expect(isTokenStoreError(error), inspect(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  return error as Error;
}

/** Every rendering of an error, its causes included, must be free of the secret. */
function expectNoSecret(error: Error): void {
  for (const shown of [error.message, String(error.stack), inspect(error, { depth: 10 }), String(error.cause ?? "")]) {
    expect(shown).not.toContain("TOP-SECRET");
  }
}

describe("file format and permissions", () => {
  it("a missing file is an empty store, and reading does not create it", async () => {
    const store = openStore();
    expect(await store.getTokens()).toEqual([]);
    expect(await store.findToken({ userName: "a@example.com" })).toBeNull();
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("creates the file with mode 0600 and missing parent directories with mode 0700", async () => {
    path = join(dir, "nested", "deeper", "tokens.json");
    const store = openStore();
    await store.saveToken({ userName: "a@example.com", accessToken: SECRET });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "nested", "deeper"))).mode & 0o777).toBe(0o700);
    // Each write replaces the file: the new one is 0600 too.
    await store.saveToken({ userName: "b@example.com" });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("writes versioned JSON that keeps every value exactly, and leaves no temp files", async () => {
    const store = openStore();
    const tricky = 'a,b "quoted"\n\r\nline 😀 ünï \\ \u2028';
    const saved = await store.saveToken({ userName: tricky, clientId: "c", refreshToken: tricky, expiresAt: 1_767_225_600_000 });
    const data = JSON.parse(await readFile(path, "utf8"));
    expect(data).toMatchObject({ format: FILE_FORMAT, version: FILE_VERSION, nextId: 2, leases: {} });
    expect(data.tokens).toEqual([
      { id: saved.id, userName: tricky, clientId: "c", clientSecret: null, refreshToken: tricky, accessToken: null, grantToken: null, expiresAt: 1_767_225_600_000, redirectUrl: null, apiDomain: null },
    ]);
    const fresh = openStore();
    expect((await fresh.findToken({ userName: tricky }))?.refreshToken).toBe(tricky);
    expect(await readdir(dir)).toEqual(["tokens.json"]);
  });

  it("persists the id counter: ids stay unique after the highest token is deleted", async () => {
    const store = openStore();
    await store.saveToken({ userName: "a" });
    const b = await store.saveToken({ userName: "b" });
    await store.deleteToken(b.id);
    expect(JSON.parse(await readFile(path, "utf8")).nextId).toBe(3);
    expect((await openStore().saveToken({ userName: "c" })).id).toBe("3");
  });

  it("keeps leases in the file and drops expired ones on the next write", async () => {
    const store = openStore();
    const { id } = await store.saveToken({ userName: "a" });
    expect(await store.acquireLease(id, "holder-1", 200)).toBe(true);
    expect(JSON.parse(await readFile(path, "utf8")).leases[id]).toMatchObject({ holder: "holder-1" });
    expect(await openStore().acquireLease(id, "holder-2", 10_000)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    await store.saveToken({ userName: "b" });
    expect(JSON.parse(await readFile(path, "utf8")).leases).toEqual({});
  });
});

describe("other writers", () => {
  it("every operation sees what another instance wrote, also right after its own cached read", async () => {
    const a = openStore();
    const b = openStore();
    await a.saveToken({ userName: "u", accessToken: "at-1" });
    expect((await b.findToken({ userName: "u" }))?.accessToken).toBe("at-1");
    await a.saveToken({ userName: "u", accessToken: "at-2" }); // same size as before
    expect((await b.findToken({ userName: "u" }))?.accessToken).toBe("at-2");
    await a.deleteTokens();
    expect(await b.getTokens()).toEqual([]);
  });

  it("an unchanged file is not parsed again; a changed one is", async () => {
    const writer = openStore();
    await writer.saveToken({ userName: "u", accessToken: "at-1" });
    const reader = openStore();
    const parse = vi.spyOn(JSON, "parse");
    const parses = () => parse.mock.calls.filter(([text]) => String(text).includes('"tokenstore-file"')).length;
    try {
      await reader.findToken({ userName: "u" });
      expect(parses()).toBe(1);
      for (let i = 0; i < 5; i++) await reader.findToken({ userName: "u" });
      await reader.getTokens();
      expect(parses()).toBe(1);
      await writer.saveToken({ userName: "u", accessToken: "at-2" }); // the writer reuses its own parse
      expect(parses()).toBe(1);
      expect((await reader.findToken({ userName: "u" }))?.accessToken).toBe("at-2");
      expect(parses()).toBe(2);
    } finally {
      parse.mockRestore();
    }
  });

  it("a file rewritten in place by someone else is read again", async () => {
    const store = openStore();
    await store.saveToken({ userName: "u", accessToken: "at-1" });
    expect((await store.findToken({ userName: "u" }))?.accessToken).toBe("at-1");
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replace("at-1", "at-9")); // same inode, same size
    expect((await store.findToken({ userName: "u" }))?.accessToken).toBe("at-9");
    await store.saveToken({ userName: "v" });
    expect((await openStore().findToken({ userName: "u" }))?.accessToken).toBe("at-9");
  });
});

describe("locking", () => {
  it("a symlinked path writes through the link, and both paths share one lock", async () => {
    const real = join(dir, "real.json");
    const link = join(dir, "link.json");
    await symlink(real, link); // dangling until the first write
    const viaLink = openStore({ path: link });
    const viaReal = openStore({ path: real });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? viaLink : viaReal).saveToken({ userName: `u${i}`, accessToken: `at-${i}` })),
    );
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await openStore({ path: real }).getTokens()).length).toBe(20);
    expect((await stat(real)).mode & 0o777).toBe(0o600);
  });


  it("gives up with BACKEND_UNAVAILABLE when another process holds the lock, and changes nothing", async () => {
    const store = openStore({ lockTimeoutMs: 300 });
    await store.saveToken({ userName: "a" });
    const before = await readFile(path);
    await mkdir(`${path}.lock`); // a live holder: fresh, so not stale
    const started = Date.now();
    const error = await expectError(store.saveToken({ userName: "b" }), "BACKEND_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.message).toContain("lock");
    expect(await readFile(path)).toEqual(before);
    expect((await store.getTokens()).length).toBe(1); // reads take no lock
  });

  it("breaks a stale lock left by a dead process", async () => {
    const store = openStore({ lockStaleMs: 2_000 });
    await mkdir(`${path}.lock`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    expect((await store.saveToken({ userName: "a" })).id).toBe("1");
    await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("rejects bad options with INVALID_OPTIONS", () => {
    for (const options of [{ path: "" }, { path: 5 }, { path, lockTimeoutMs: -1 }, { path, lockStaleMs: 1.5 }]) {
      expect(() => new FileTokenStore(options as never)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    }
  });
});

describe("unreadable or corrupt files are never overwritten", () => {
  const valid = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify({
      format: FILE_FORMAT,
      version: FILE_VERSION,
      nextId: 2,
      tokens: [{ id: "1", userName: "a", clientId: null, clientSecret: null, refreshToken: null, accessToken: SECRET, grantToken: null, expiresAt: null, redirectUrl: null, apiDomain: null }],
      leases: {},
      ...overrides,
    });
  const cases: Record<string, string | Buffer> = {
    "broken JSON around a secret": `{"format":"tokenstore-file","version":1,"tokens":[{"accessToken":"${SECRET}" oops}]}`,
    "truncated JSON": valid().slice(0, 120),
    "an empty file": "",
    "not UTF-8": Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    "another format": JSON.stringify({ format: "zoho-csv", version: 1, tokens: [] }),
    "a JSON array": JSON.stringify([SECRET]),
    "a newer version": valid({ version: 2 }),
    "a bad nextId": valid({ nextId: "7" }),
    "a token with a bad field": valid({ tokens: [{ id: "1", userName: 5, accessToken: SECRET }] }),
    "a token with a bad expiry": valid({ tokens: [{ id: "1", accessToken: SECRET, expiresAt: SECRET }] }),
    "a token without id": valid({ tokens: [{ accessToken: SECRET }] }),
    "two tokens with one id": valid({ tokens: [{ id: "1", accessToken: SECRET }, { id: "1", accessToken: "x" }] }),
    "a bad lease": valid({ leases: { "1": SECRET } }),
  };
  for (const [label, content] of Object.entries(cases)) {
    it(`${label}: CORRUPT_DATA on every operation, bytes unchanged, no secret in the error`, async () => {
      await writeFile(path, content, { mode: 0o600 });
      const before = await readFile(path);
      const store = openStore();
      const calls: (() => Promise<unknown>)[] = [
        () => store.findToken({ userName: "a" }),
        () => store.findTokenById("1"),
        () => store.getTokens(),
        () => store.saveToken({ userName: "b", accessToken: "new" }),
        () => store.deleteToken("1"),
        () => store.deleteTokens(),
        () => store.acquireLease("1", "h", 1000),
      ];
      for (const call of calls) expectNoSecret(await expectError(call(), "CORRUPT_DATA"));
      expect(await readFile(path)).toEqual(before);
    });
  }

  it("a path below a regular file: BACKEND_ERROR, the file stays", async () => {
    await writeFile(join(dir, "plain"), "x");
    path = join(dir, "plain", "tokens.json");
    const store = openStore();
    await expectError(store.getTokens(), "BACKEND_ERROR");
    await expectError(store.saveToken({ userName: "a" }), "BACKEND_ERROR");
    expect(await readFile(join(dir, "plain"), "utf8")).toBe("x");
  });

  it("a path that is a directory: BACKEND_ERROR, the directory stays", async () => {
    await mkdir(path);
    await writeFile(join(path, "keep"), "x");
    const store = openStore();
    await expectError(store.getTokens(), "BACKEND_ERROR");
    await expectError(store.findToken({ userName: "a" }), "BACKEND_ERROR");
    await expectError(store.saveToken({ userName: "a" }), "BACKEND_ERROR");
    expect((await stat(path)).isDirectory()).toBe(true);
    expect(await readFile(join(path, "keep"), "utf8")).toBe("x");
  });

  it.skipIf(process.getuid?.() === 0)("an unreadable file: BACKEND_ERROR (skipped as root, who reads anything)", async () => {
    await writeFile(path, valid(), { mode: 0o000 });
    const store = openStore();
    await expectError(store.getTokens(), "BACKEND_ERROR");
    await expectError(store.saveToken({ userName: "b" }), "BACKEND_ERROR");
  });

  it("secrets never appear in CONFLICT errors or printed tokens", async () => {
    const store = openStore();
    await store.saveToken({ userName: "a", accessToken: SECRET });
    const error = await expectError(store.saveToken({ userName: "b", accessToken: SECRET }), "CONFLICT");
    expectNoSecret(error);
    expect(inspect(await store.getTokens())).not.toContain("TOP-SECRET");
  });
});

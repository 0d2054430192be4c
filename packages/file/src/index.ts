import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { mkdir, open, readlink, realpath, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import lockfile from "proper-lockfile";
import {
  BaseTokenStore,
  checkLeaseArgs,
  tokenRecord,
  toToken,
  TokenStoreError,
  TokenTable,
  type BaseStoreOptions,
  type SavePlan,
  type Selector,
  type TokenLeases,
  type TokenRow,
} from "@tokenstore/core";

export interface FileStoreOptions extends BaseStoreOptions {
  /** The token file. Created (mode 0600, and its missing parent directories, mode 0700) on the first write. */
  path: string;
  /** Longest wait for the cross-process lock before BACKEND_UNAVAILABLE, in ms. Default 12 000. */
  lockTimeoutMs?: number;
  /**
   * A lock not refreshed for this long is taken to belong to a dead process and is broken, in ms.
   * Minimum 2 000, default 10 000. The holder refreshes it every half of this while it holds it.
   */
  lockStaleMs?: number;
}

export const FILE_FORMAT = "tokenstore-file";
export const FILE_VERSION = 1;

const STORE = "file";
/**
 * Lock timing. A lock is taken as dead only after 10 s without a refresh, so that a holder whose
 * event loop is stuck for a while (a large parse, a GC pause) keeps it. A waiter waits longer
 * than that (12 s), so the first operation after a crash recovers the lock itself, and the
 * operation timeout (15 s, above BaseTokenStore's 10 s default for that reason) leaves it room.
 */
const DEFAULT_LOCK_STALE_MS = 10_000;
const DEFAULT_LOCK_TIMEOUT_MS = 12_000;
const DEFAULT_OPERATION_TIMEOUT_MS = 15_000;

interface Lease {
  holder: string;
  until: number;
}

/** The parsed file: the rules engine (which carries the id counter) and the leases. */
interface Contents {
  table: TokenTable;
  leases: Map<string, Lease>;
}

/** What the last read saw: the file's identity (inode, size, times) and bytes, and their parse. */
interface Snapshot {
  stamp: string;
  bytes: Buffer | null;
  contents: Contents;
}

/**
 * Writers in this process queue here per file before taking the cross-process lock, so that many
 * instances in one process wait in line instead of polling the lock directory.
 */
const localQueues = new Map<string, Promise<unknown>>();

/**
 * Keeps tokens in one JSON file. Every operation re-reads the file (reusing the last parse when
 * the file is unchanged), so several processes can share it; writes replace it atomically under
 * a cross-process lock.
 */
export class FileTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = STORE;
  readonly path: string;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  readonly #operationTimeoutMs: number;
  #snapshot: Snapshot | null = null;
  #dirReady = false;

  constructor(options: FileStoreOptions) {
    super({ ...options, operationTimeoutMs: options?.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS });
    if (!options || typeof options.path !== "string" || options.path === "") {
      throw new TokenStoreError("INVALID_OPTIONS", "the file store needs a non-empty `path`", { store: STORE });
    }
    this.path = resolve(options.path);
    this.#lockTimeoutMs = positive(options.lockTimeoutMs, DEFAULT_LOCK_TIMEOUT_MS, "lockTimeoutMs");
    this.#lockStaleMs = Math.max(2_000, positive(options.lockStaleMs, DEFAULT_LOCK_STALE_MS, "lockStaleMs"));
    this.#operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    return this.#read((c) => c.table.find(selector));
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow> {
    return this.#update((c) => [c.table.save(plan, STORE), true]);
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    return this.#read((c) => c.table.get(id));
  }

  protected async deleteRow(id: string): Promise<boolean> {
    return this.#update((c) => {
      const deleted = c.table.delete(id);
      c.leases.delete(id);
      return [deleted, deleted];
    });
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return this.#read((c) => c.table.list());
  }

  protected async deleteAllRows(): Promise<void> {
    await this.#update((c) => {
      c.table.clear();
      c.leases.clear();
      return [undefined, true];
    });
  }

  protected async closeBackend(): Promise<void> {
    // Nothing stays open between operations: each one opens, reads or writes, and closes.
    this.#snapshot = null;
  }

  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", () =>
      this.#update((c) => {
        if (!c.table.get(id)) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: STORE });
        const now = Date.now();
        const lease = c.leases.get(id);
        if (lease && lease.holder !== holder && lease.until > now) return [false, false];
        c.leases.set(id, { holder, until: now + ttlMs });
        return [true, true];
      }),
    );
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", () =>
      this.#update((c) => {
        const lease = c.leases.get(id);
        if (!lease || lease.holder !== holder || lease.until <= Date.now()) return [false, false];
        c.leases.delete(id);
        return [true, true];
      }),
    );
  }

  /**
   * Applies `query` to the file's current contents, parsed again only when the file changed
   * since the last read. `query` runs synchronously right where the contents are picked, so it
   * can never see contents that a concurrent `#update` of this instance is changing.
   */
  async #read<T>(query: (contents: Contents) => T): Promise<T> {
    let current;
    try {
      // A synchronous stat: ~25 µs instead of ~150 µs through the thread pool, on the hot path
      // of every read, for a local file.
      current = statSync(this.path, { bigint: true });
    } catch (error) {
      if (code(error) === "ENOENT") return query(emptyContents());
      throw error;
    }
    const snapshot = this.#snapshot;
    if (snapshot && snapshot.stamp === stampOf(current)) return query(snapshot.contents);
    return this.#load((loaded) => query(loaded.contents));
  }

  /**
   * Opens, reads and parses the file (reusing the cached parse when the bytes are the same),
   * caches it and hands it to `use` at once. The stamp comes from the same open file as the bytes.
   */
  async #load<T>(use: (snapshot: Snapshot) => T): Promise<T> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, "r");
    } catch (error) {
      if (code(error) === "ENOENT") return use({ stamp: "missing", bytes: null, contents: emptyContents() });
      throw error;
    }
    let info, bytes;
    try {
      info = await handle.stat({ bigint: true });
      if (!info.isFile()) {
        throw new TokenStoreError("BACKEND_ERROR", `the token file path ${this.path} is not a regular file`, { store: STORE });
      }
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
    const previous = this.#snapshot;
    const contents = previous?.bytes?.equals(bytes) ? previous.contents : parseContents(bytes, this.path);
    const snapshot = { stamp: stampOf(info), bytes, contents };
    this.#snapshot = snapshot;
    return use(snapshot);
  }

  /**
   * Read-modify-write under the lock. `change` returns its result and whether it changed
   * anything; the file is rewritten only then. It changes the cached contents in place (copying
   * a large table on every write would cost more than the write), so the cache is dropped first:
   * reads meanwhile go to the file, and a failed write leaves nothing behind in memory.
   */
  async #update<T>(change: (contents: Contents) => [T, boolean]): Promise<T> {
    const deadline = this.#operationTimeoutMs > 0 ? Date.now() + this.#operationTimeoutMs : Infinity;
    await this.#ensureDir();
    const target = await this.#target();
    return inLocalQueue(target, async () => {
      const release = await this.#lock(target, deadline);
      try {
        // Under the lock the bytes are always read and compared (not only the stamp): a stale
        // base here would lose another process's write.
        const before = await this.#load((snapshot) => snapshot);
        this.#snapshot = null;
        const working = before.contents;
        const [result, changed] = change(working);
        if (changed) {
          if (Date.now() >= deadline) {
            throw new TokenStoreError("BACKEND_UNAVAILABLE", "the operation ran out of time before writing; nothing was changed", { store: STORE });
          }
          this.#snapshot = await this.#write(target, working);
        } else {
          this.#snapshot = before;
        }
        return result;
      } finally {
        await release();
      }
    });
  }

  /**
   * The file writes go to: symlinks resolved, so that the lock and the rename act on the real
   * file (renaming over a symlink would replace the link, and two paths to one file would
   * otherwise take two different locks).
   */
  async #target(): Promise<string> {
    let path = this.path;
    for (let hops = 0; hops < 40; hops++) {
      try {
        return await realpath(path);
      } catch (error) {
        if (code(error) !== "ENOENT") throw error;
      }
      // The file does not exist yet: write where a dangling link points, or right here.
      try {
        path = resolve(dirname(path), await readlink(path));
      } catch (error) {
        if (code(error) !== "EINVAL" && code(error) !== "ENOENT") throw error;
        return join(await realpath(dirname(path)), basename(path));
      }
    }
    throw new TokenStoreError("BACKEND_ERROR", `too many symbolic links at ${this.path}`, { store: STORE });
  }

  async #ensureDir(): Promise<void> {
    if (this.#dirReady) return;
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    this.#dirReady = true;
  }

  /**
   * Takes the cross-process lock: proper-lockfile's `<path>.lock` directory (mkdir is atomic on
   * every local and network file system; O_EXCL files are not on old NFS), which its holder keeps
   * fresh and which others break once it is `lockStaleMs` old, so a killed process cannot block
   * the file for ever. Known limit of breaking stale locks: two waiters that judge the same dead
   * lock stale at the same instant can both take it; it needs a crash and an exact tie, and the
   * in-process queue (`inLocalQueue`) keeps waiters of one process out of that race.
   * We poll with our own bounded loop so the wait ends with a clear BACKEND_UNAVAILABLE.
   */
  async #lock(target: string, deadline: number): Promise<() => Promise<void>> {
    const giveUp = Math.min(Date.now() + this.#lockTimeoutMs, deadline);
    let compromised = false;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        const release = await lockfile.lock(target, {
          realpath: false,
          stale: this.#lockStaleMs,
          retries: 0,
          onCompromised: () => {
            compromised = true;
          },
        });
        return async () => {
          if (!compromised) await release();
          if (compromised) {
            throw new TokenStoreError("BACKEND_ERROR", `lost the lock on ${target} while holding it (another process broke it as stale)`, { store: STORE });
          }
        };
      } catch (error) {
        if (code(error) !== "ELOCKED") throw error;
        if (Date.now() + delay >= giveUp) {
          throw new TokenStoreError(
            "BACKEND_UNAVAILABLE",
            `could not lock ${target} within ${this.#lockTimeoutMs} ms: another process holds ${target}.lock`,
            { store: STORE },
          );
        }
        await sleep(delay + Math.random() * delay);
      }
    }
  }

  /**
   * Atomic replace: a fresh 0600 temp file in the same directory, fsync, rename over the file,
   * fsync the directory. A crash at any point leaves the old file or the new one, never a mix.
   */
  async #write(target: string, contents: Contents): Promise<Snapshot> {
    const bytes = Buffer.from(serializeContents(contents), "utf8");
    const dir = dirname(target);
    const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    const handle = await open(temp, "wx", 0o600);
    let renamed = false;
    try {
      await handle.writeFile(bytes);
      await handle.sync();
      await rename(temp, target);
      renamed = true;
      const info = await handle.stat({ bigint: true });
      return { stamp: stampOf(info), bytes, contents };
    } finally {
      await handle.close();
      if (!renamed) await unlink(temp).catch(() => undefined);
      else await syncDir(dir);
    }
  }
}

/** Runs `task` after the tasks queued before it on the same file in this process. */
async function inLocalQueue<T>(file: string, task: () => Promise<T>): Promise<T> {
  const previous = localQueues.get(file) ?? Promise.resolve();
  const mine = previous.then(task, task);
  const tail = mine.catch(() => undefined);
  localQueues.set(file, tail);
  try {
    return await mine;
  } finally {
    if (localQueues.get(file) === tail) localQueues.delete(file);
  }
}

export function createFileStore(options: FileStoreOptions): FileTokenStore {
  return new FileTokenStore(options);
}

/** Each token's JSON line. Tokens in a TokenTable are never changed (a save stores a new object). */
const serialized = new WeakMap<TokenRow, string>();

/** The file's text: versioned JSON, one token per line for readable diffs. */
function serializeContents({ table, leases }: Contents): string {
  const now = Date.now();
  const live = [...leases].filter(([id, lease]) => lease.until > now && table.get(id));
  const tokens = table.list().map((token) => {
    let line = serialized.get(token);
    if (line === undefined) serialized.set(token, (line = JSON.stringify(tokenRecord(token))));
    return line;
  });
  return (
    `{"format":${JSON.stringify(FILE_FORMAT)},"version":${FILE_VERSION},"nextId":${table.nextId},\n` +
    `"tokens":[${tokens.length ? `\n${tokens.join(",\n")}\n` : ""}],\n` +
    `"leases":${JSON.stringify(Object.fromEntries(live))}}\n`
  );
}

/**
 * Parses and checks the file. Anything unexpected is CORRUPT_DATA, with messages that name the
 * problem but never quote the file (JSON.parse's own message can contain a snippet of it).
 */
function parseContents(bytes: Buffer, path: string): Contents {
  const corrupt = (what: string) => new TokenStoreError("CORRUPT_DATA", `the token file ${path} ${what}; it was left unchanged`, { store: STORE });
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw corrupt("is not valid UTF-8 JSON");
  }
  if (!isObject(data) || data.format !== FILE_FORMAT) throw corrupt(`is not a ${FILE_FORMAT} file`);
  if (data.version !== FILE_VERSION) {
    throw corrupt(`has format version ${typeof data.version === "number" ? data.version : "?"}; this version reads ${FILE_VERSION} only`);
  }
  if (typeof data.nextId !== "number" || !Number.isSafeInteger(data.nextId) || data.nextId < 1) throw corrupt("has an invalid nextId");
  if (!Array.isArray(data.tokens)) throw corrupt("has no tokens array");
  if (!isObject(data.leases)) throw corrupt("has no leases object");
  const tokens = data.tokens.map((entry, i) => {
    if (!isObject(entry)) throw corrupt(`has an invalid token at position ${i}`);
    try {
      return toToken(entry as TokenRow, STORE);
    } catch (error) {
      throw corrupt(`has an invalid token at position ${i} (${error instanceof Error ? error.message.replace(/^\[[^\]]*\] /, "") : "?"})`);
    }
  });
  const table = new TokenTable(tokens, data.nextId, STORE);
  const leases = new Map<string, Lease>();
  for (const [id, lease] of Object.entries(data.leases)) {
    if (!isObject(lease) || typeof lease.holder !== "string" || typeof lease.until !== "number") throw corrupt("has an invalid lease");
    leases.set(id, { holder: lease.holder, until: lease.until });
  }
  return { table, leases };
}

function emptyContents(): Contents {
  return { table: new TokenTable([], 1, STORE), leases: new Map() };
}

/** Identifies one version of the file without reading it. */
function stampOf(info: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function code(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TokenStoreError("INVALID_OPTIONS", `${name} must be a positive integer (ms)`, { store: STORE });
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

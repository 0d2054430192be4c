import {
  describeCause,
  isTokenStoreError,
  isUnreachableError,
  matchesCondition,
  mergeToken,
  selectorFor,
  TOKEN_FIELDS,
  TokenStoreError,
  compareIds,
  type PartialToken,
  type Token,
  type TokenField,
  type TokenStore,
  type TokenValues,
} from "@tokenstore/core";
import { readZohoRows, readZohoTokenFile, writeZohoTokenFile, ZOHO_COLUMNS, type RawZohoRow, type ZohoIssue, type ZohoSource } from "./formats.js";

export interface ImportOptions {
  /** Called after each record with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Records to import: a parsed Zoho file or table, or another store's tokens. */
export type ImportSource = Pick<ZohoSource, "records"> & Partial<Pick<ZohoSource, "skipped" | "notes" | "warnings">> & { kind: ImportSummary["kind"] };

/** What an import did. Issues carry line (or row) numbers and ids, never secrets. */
export interface ImportSummary {
  /** Where the records came from: a token file, a table, or another store. */
  kind: ZohoSource["kind"] | "store";
  /** Records in the source, readable or not: inserted + updated + unchanged + skipped. */
  total: number;
  /** Tokens that were not in the destination. */
  inserted: number;
  /** Tokens already in the destination that the import changed. */
  updated: number;
  /** Tokens already in the destination with the same values (nothing written). */
  unchanged: number;
  /** Records not imported (unreadable, or refused by the destination), with the reason. */
  skipped: ZohoIssue[];
  /** Records imported with a change worth knowing (new id, converted expiry, …). */
  notes: ZohoIssue[];
  /** Remarks about the whole source. */
  warnings: string[];
}

/**
 * Imports records into any TokenStore. Never clears a stored value (null fields keep what the
 * destination holds) and never overwrites a different token: for each record,
 * 1. a destination token with the record's id that is the same token (same user + client, or the
 *    same key under the matching rules) is updated;
 * 2. else a destination token the record's keys match is updated (it keeps its id);
 * 3. else the record is inserted with its id, or under a new id when its id is taken by a
 *    different token or it has none.
 * So importing the same source twice leaves the same tokens.
 */
export async function importZohoSource(source: ImportSource, dest: TokenStore, options: ImportOptions = {}): Promise<ImportSummary> {
  const summary: ImportSummary = {
    kind: source.kind,
    total: source.records.length + (source.skipped?.length ?? 0),
    inserted: 0,
    updated: 0,
    unchanged: 0,
    skipped: [...(source.skipped ?? [])],
    notes: [...(source.notes ?? [])],
    warnings: [...(source.warnings ?? [])],
  };
  let done = 0;
  // Records that need a store-generated id go last, so that the generated ids (above every id
  // stored so far) cannot take an id a later record brings.
  const deferred: ZohoSource["records"] = [];
  for (const record of source.records) {
    if (await importRecord(record, dest, summary, false)) deferred.push(record);
    else options.onProgress?.(++done, source.records.length);
  }
  for (const record of deferred) {
    await importRecord(record, dest, summary, true);
    options.onProgress?.(++done, source.records.length);
  }
  summary.skipped.sort((a, b) => a.line - b.line);
  summary.notes.sort((a, b) => a.line - b.line);
  return summary;
}

/** Imports one record; returns true (doing nothing) when it needs a new id and `newIds` is false. */
async function importRecord({ line, token }: ZohoSource["records"][number], dest: TokenStore, summary: ImportSummary, newIds: boolean): Promise<boolean> {
  const id = token.id ?? null;
  const values = valuesOf(token);
  const keyed = selectorFor(values);
  try {
    let target: Token | null = null;
    let idTaken = false;
    if (id !== null) {
      const byId = await dest.findTokenById(id);
      if (byId && (keyed === null || keyed.anyOf.some((c) => matchesCondition(byId, c)))) target = byId;
      else if (byId) idTaken = true;
    }
    if (!target && keyed) {
      target = await dest.findToken(values);
      if (target && id !== null) summary.notes.push({ line, id, reason: `already stored as id "${target.id}": updated that token` });
    }
    if (target) {
      if (sameFields(mergeToken(target, values), target)) summary.unchanged++;
      else {
        await dest.saveToken({ ...values, id: target.id });
        summary.updated++;
      }
    } else if (id !== null && !idTaken) {
      await dest.saveToken({ ...values, id });
      summary.inserted++;
    } else if (idTaken && !keyed) {
      summary.skipped.push({ line, id, reason: `id "${id}" belongs to a different token in the destination, and the record has no other key` });
    } else if (!newIds) {
      return true;
    } else {
      const saved = await dest.saveToken(values);
      summary.inserted++;
      if (idTaken) summary.notes.push({ line, id, reason: `id "${id}" belongs to a different token in the destination: stored as id "${saved.id}"` });
    }
  } catch (error) {
    if (!isTokenStoreError(error) || !["CONFLICT", "INVALID_TOKEN", "NO_KEY"].includes(error.code)) throw error;
    summary.skipped.push({ line, id, reason: `refused by the destination: ${error.code} (${error.message.replace(/^\[tokenstore[^\]]*\] /, "")})` });
  }
  return false;
}

function valuesOf(partial: PartialToken): TokenValues {
  const values = {} as Record<string, unknown>;
  for (const field of TOKEN_FIELDS) if (field !== "id") values[field] = partial[field] ?? null;
  return values as TokenValues;
}

function sameFields(a: Token, b: Token): boolean {
  return TOKEN_FIELDS.every((f) => a[f] === b[f]);
}

/** Imports a Zoho token file (any generation; see `parseZohoTokenFile`). */
export async function importZohoFile(path: string, dest: TokenStore, options: ImportOptions = {}): Promise<ImportSummary> {
  return importZohoSource(await readZohoTokenFile(path), dest, options);
}

/** Copies every token of one store into another, with the same rules as an import. */
export async function copyTokens(source: TokenStore, dest: TokenStore, options: ImportOptions = {}): Promise<ImportSummary> {
  const tokens = await source.getTokens();
  return importZohoSource({ kind: "store", records: tokens.map((token, i) => ({ line: i + 1, token: { ...token } })) }, dest, options);
}

/**
 * Writes every token of a store as a Zoho token file Zoho's SDKs read (atomic, mode 0600).
 * Throws ZohoExportError (naming token ids and fields) before writing when a token cannot be
 * written. Resolves the number of tokens written.
 */
export async function exportZohoFile(source: TokenStore, path: string): Promise<number> {
  const tokens = await source.getTokens();
  await writeZohoTokenFile(path, tokens);
  return tokens.length;
}

// ---------------------------------------------------------------- tables

/** A table name: plain identifier characters only (it is quoted, never bound). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

function checkTable(table: string): string {
  if (!IDENTIFIER.test(table)) throw new TokenStoreError("INVALID_OPTIONS", `table name "${table.slice(0, 70)}" must match ${IDENTIFIER}`);
  return table;
}

/**
 * Maps table rows to token fields by column NAME (any spelling Zoho used; case-insensitive).
 * Unknown columns are reported and ignored. Empty strings are null, as Zoho reads them.
 */
export function mapZohoTableRows(rows: readonly Record<string, unknown>[], what: string): ZohoSource {
  const warnings: string[] = [];
  const columns = new Map<string, TokenField>();
  const names = rows.length > 0 ? Object.keys(rows[0]!) : [];
  for (const name of names) {
    const field = ZOHO_COLUMNS[name.toLowerCase()];
    if (field && ![...columns.values()].includes(field)) columns.set(name, field);
    else warnings.push(`column "${name.slice(0, 64)}" of ${what} is not a Zoho token column: ignored`);
  }
  const missing = TOKEN_FIELDS.filter((f) => ![...columns.values()].includes(f));
  if (rows.length > 0 && missing.length > 0) warnings.push(`${what} has no column for ${missing.join(", ")}: read as empty`);
  const raw: (RawZohoRow & { bad?: string })[] = rows.map((row) => {
    const out: RawZohoRow & { bad?: string } = {};
    for (const [name, field] of columns) {
      const value = toText(row[name]);
      if (value === undefined) out.bad = `column "${name}" holds a value that is not text or a number`;
      else out[field] = value === "" ? null : value;
    }
    return out;
  });
  raw.sort((a, b) => (a.id == null ? (b.id == null ? 0 : 1) : b.id == null ? -1 : compareIds(a.id, b.id)));
  return readZohoRows(raw, warnings);
}

function toText(value: unknown): string | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8");
  return undefined;
}

/** Where Zoho's MySQL DBStore table is. */
export interface ZohoMysqlTableOptions {
  /** `mysql://user:password@host:port/database`; the database defaults to `zohooauth`, Zoho's default. */
  url?: string;
  /** An app's mysql2/promise Pool or Connection instead of a URL (never closed by us). */
  client?: { query(sql: string): Promise<unknown> };
  /** Table name; default `oauthtoken`, Zoho's default. */
  table?: string;
  /** Connect timeout in ms; default 5000. */
  connectTimeoutMs?: number;
}

/** Reads Zoho's MySQL DBStore table (`SELECT *`, columns mapped by name). */
export async function readZohoMysqlTable(options: ZohoMysqlTableOptions): Promise<ZohoSource> {
  const table = checkTable(options.table ?? "oauthtoken");
  const sql = `SELECT * FROM \`${table}\``;
  let rows: unknown;
  try {
    if (options.client) rows = ((await options.client.query(sql)) as [unknown])[0];
    else {
      if (!options.url) throw new TokenStoreError("INVALID_OPTIONS", "readZohoMysqlTable needs a url or a client");
      const mysql = (await loadOptional("mysql2/promise", "mysql2")) as MysqlModule;
      const url = new URL(options.url);
      if (url.pathname === "" || url.pathname === "/") url.pathname = "/zohooauth";
      const connection = await mysql.createConnection({
        uri: url.toString(),
        connectTimeout: options.connectTimeoutMs ?? 5000,
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
      });
      try {
        [rows] = await connection.query(sql);
      } finally {
        await connection.end().catch(() => {});
      }
    }
  } catch (error) {
    throw tableError(error, "zoho-mysql", table);
  }
  return mapZohoTableRows(rows as Record<string, unknown>[], `table ${table}`);
}

/** Imports Zoho's MySQL DBStore table. */
export async function importZohoMysqlTable(table: ZohoMysqlTableOptions, dest: TokenStore, options: ImportOptions = {}): Promise<ImportSummary> {
  return importZohoSource(await readZohoMysqlTable(table), dest, options);
}

/** Where the SQLite table of Zoho's Python custom-store sample is. */
export interface ZohoSqliteTableOptions {
  /** The database file (the sample's `zohooauth.db`); opened read-only. */
  path?: string;
  /** An app's better-sqlite3 Database instead of a path (never closed by us). */
  database?: { prepare(sql: string): { all(): unknown[] } };
  /** Table name; default `oauthtoken`. */
  table?: string;
}

/** Reads the SQLite sample's table, read-only (`SELECT *`, columns mapped by name). */
export async function readZohoSqliteTable(options: ZohoSqliteTableOptions): Promise<ZohoSource> {
  const table = checkTable(options.table ?? "oauthtoken");
  const sql = `SELECT * FROM "${table}"`;
  let rows: unknown[];
  try {
    if (options.database) rows = options.database.prepare(sql).all();
    else {
      if (!options.path) throw new TokenStoreError("INVALID_OPTIONS", "readZohoSqliteTable needs a path or a database");
      const Database = ((await loadOptional("better-sqlite3", "better-sqlite3")) as { default: SqliteConstructor }).default;
      const db = new Database(options.path, { readonly: true, fileMustExist: true });
      try {
        rows = db.prepare(sql).all();
      } finally {
        db.close();
      }
    }
  } catch (error) {
    throw tableError(error, "zoho-sqlite", table);
  }
  return mapZohoTableRows(rows as Record<string, unknown>[], `table ${table}`);
}

/** Imports the SQLite sample's table. */
export async function importZohoSqliteTable(table: ZohoSqliteTableOptions, dest: TokenStore, options: ImportOptions = {}): Promise<ImportSummary> {
  return importZohoSource(await readZohoSqliteTable(table), dest, options);
}

interface MysqlModule {
  createConnection(options: Record<string, unknown>): Promise<{ query(sql: string): Promise<[unknown, unknown]>; end(): Promise<void> }>;
}

type SqliteConstructor = new (path: string, options: Record<string, unknown>) => { prepare(sql: string): { all(): unknown[] }; close(): void };

/** Imports an optional peer dependency, with a clear error when it is not installed. */
async function loadOptional(specifier: string, pkg: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch (error) {
    throw new TokenStoreError("INVALID_OPTIONS", `this needs the "${pkg}" package: npm install ${pkg}`, { cause: error });
  }
}

/** Driver errors, mapped without their messages (they can quote values). */
function tableError(error: unknown, store: string, table: string): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = (error as { message?: unknown })?.message;
  if (code === "ER_NO_SUCH_TABLE" || (typeof message === "string" && /^no such table/.test(message))) {
    return new TokenStoreError("INVALID_OPTIONS", `there is no table "${table}"`, { store, cause: error });
  }
  if (code === "ER_BAD_DB_ERROR") return new TokenStoreError("INVALID_OPTIONS", `the database does not exist (${code})`, { store, cause: error });
  if (code === "SQLITE_CANTOPEN" || (typeof message === "string" && /unable to open database|directory does not exist/.test(message))) {
    return new TokenStoreError("INVALID_OPTIONS", "cannot open the SQLite database file (does it exist?)", { store, cause: error });
  }
  return new TokenStoreError(isUnreachableError(error) ? "BACKEND_UNAVAILABLE" : "BACKEND_ERROR", `reading table "${table}" failed (${describeCause(error)})`, { store, cause: error });
}

import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  isTokenStoreError,
  normalizeToken,
  selectorFor,
  TOKEN_FIELDS,
  TokenStoreError,
  uniqueKeys,
  type PartialToken,
  type TokenField,
  type UniqueKeys,
} from "@tokenstore/core";

/** The header line Zoho's Node.js SDK 8.0 writes (TS8 writes `user_mail`, Python `redirect_uri`). */
export const ZOHO_FILE_HEADER =
  "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";

/** Zoho's column names (every spelling seen in Zoho's SDKs) → token fields. */
export const ZOHO_COLUMNS: Readonly<Record<string, TokenField>> = {
  id: "id",
  user_name: "userName",
  user_mail: "userName",
  client_id: "clientId",
  client_secret: "clientSecret",
  refresh_token: "refreshToken",
  access_token: "accessToken",
  grant_token: "grantToken",
  expiry_time: "expiresAt",
  redirect_url: "redirectUrl",
  redirect_uri: "redirectUrl",
  api_domain: "apiDomain",
};

/** Zoho's positional column order: the same as `TOKEN_FIELDS`. */
const POSITIONAL: readonly TokenField[] = TOKEN_FIELDS;

/** One token read from a Zoho file or table. */
export interface ZohoRecord {
  /** 1-based line number in a file (line 1 is the header), or 1-based row number of a table read in id order. */
  line: number;
  /** The token as read. `id` is null when the record had none or its id was a duplicate: the store gives it a new one. */
  token: PartialToken;
}

/** A record that was not read, or was read with a change worth knowing. Never holds a secret. */
export interface ZohoIssue {
  /** As in `ZohoRecord.line`. */
  line: number;
  /** The record's id as written, when it had one. */
  id: string | null;
  reason: string;
}

/** What a Zoho file or table held. */
export interface ZohoSource {
  kind: "file" | "table";
  /** Readable records, in file (or id) order. */
  records: ZohoRecord[];
  /** Records that cannot be imported, with the reason. */
  skipped: ZohoIssue[];
  /** Records read with a change (new id, converted expiry, …). */
  notes: ZohoIssue[];
  /** Remarks about the whole source (header, columns). */
  warnings: string[];
}

/** Raw values of one record by token field: `null` for an empty or absent value. */
export type RawZohoRow = Partial<Record<TokenField, string | null>>;

// ---------------------------------------------------------------- reading

/**
 * Parses a Zoho token file (any generation Zoho's SDKs wrote). Never throws for a bad row:
 * rows that cannot be read go to `skipped` with their line number. Throws CORRUPT_DATA only
 * when the whole input is not a Zoho token file (not UTF-8, unknown columns). See the README for
 * what happens to each variant.
 */
export function parseZohoTokenFile(input: string | Uint8Array): ZohoSource {
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      throw new TokenStoreError("CORRUPT_DATA", "the Zoho token file is not UTF-8 text");
    }
  }
  if (text.startsWith("\uFEFF")) text = text.slice(1);

  const source: ZohoSource = { kind: "file", records: [], skipped: [], notes: [], warnings: [] };
  const lines = splitRecords(text, source);
  const nonBlank = lines.filter((l) => !isBlank(l.fields));
  if (nonBlank.length === 0) {
    source.warnings.push(text === "" ? "the file is empty (no header line)" : "the file holds no header and no tokens, only blank lines");
    return source;
  }

  const first = nonBlank[0]!;
  let columns: readonly (TokenField | null)[];
  let rows: RecordLine[];
  let headerless = false;
  const looksLikeHeader = first.fields[0]?.trim().toLowerCase() === "id" || first.fields.every((f) => ZOHO_COLUMNS[f.trim().toLowerCase()] !== undefined);
  if (looksLikeHeader) {
    columns = headerColumns(first, source);
    rows = nonBlank.slice(1);
    if (first.line !== 1) source.warnings.push(`the header is on line ${first.line}, after blank lines`);
  } else {
    // Zoho bug #1: a file holding only "\n" gets its first token row on line 0, where Zoho
    // expects the header. We read that row (Zoho itself never does) and give it the lowest precedence.
    headerless = true;
    const width = first.fields.length;
    if (width !== 9 && width !== 10) {
      throw new TokenStoreError("CORRUPT_DATA", `not a Zoho token file: line ${first.line} is neither a header nor a token row (${width} fields)`);
    }
    columns = POSITIONAL.slice(0, width);
    rows = nonBlank;
    source.warnings.push(
      `line ${first.line} is a token row, not a header (Zoho bug: the file held only a newline when Zoho first saved); ` +
        `it is read as a token, but Zoho never reads it, so later rows win over it`,
    );
  }

  const candidates: Candidate[] = [];
  for (const row of rows) {
    if (row.fields.length !== columns.length) {
      skip(source, row.line, row.fields[0] || null, `has ${row.fields.length} fields, expected ${columns.length}`);
      continue;
    }
    if (row.fields.every((f) => f === "")) {
      skip(source, row.line, null, "empty row (every field is empty)");
      continue;
    }
    const raw: RawZohoRow = {};
    columns.forEach((field, i) => {
      if (field) raw[field] = row.fields[i] === "" ? null : row.fields[i]!;
    });
    const candidate = readRow(raw, row.line, source);
    if (candidate) candidates.push(candidate);
  }
  // Zoho reads the first matching row; a headerless file's line-1 row is one Zoho never reads.
  const order = headerless && candidates[0]?.line === first.line ? [...candidates.slice(1), candidates[0]!] : candidates;
  resolveDuplicates(order, source);
  return source;
}

/** Reads and parses a Zoho token file. */
export async function readZohoTokenFile(path: string): Promise<ZohoSource> {
  return parseZohoTokenFile(await readFile(path));
}

/**
 * Turns raw table rows (already mapped to token fields) into a source, with the same checks
 * as for files. `rows` should be in id order; row numbers are 1-based positions in it.
 */
export function readZohoRows(rows: readonly (RawZohoRow & { bad?: string })[], warnings: string[] = []): ZohoSource {
  const source: ZohoSource = { kind: "table", records: [], skipped: [], notes: [], warnings: [...warnings] };
  const candidates: Candidate[] = [];
  rows.forEach(({ bad, ...raw }, i) => {
    if (bad) return skip(source, i + 1, raw.id ?? null, bad);
    const candidate = readRow(raw, i + 1, source);
    if (candidate) candidates.push(candidate);
  });
  resolveDuplicates(candidates, source);
  return source;
}

interface RecordLine {
  /** Line on which the record starts. */
  line: number;
  fields: string[];
}

interface Candidate {
  line: number;
  /** The id as written (null when empty). */
  id: string | null;
  token: ReturnType<typeof normalizeToken>;
}

function isBlank(fields: string[]): boolean {
  return fields.length === 1 && fields[0]!.trim() === "";
}

/**
 * Splits text into records: LF or CRLF line ends, RFC 4180 quoted fields (Zoho's Python SDK
 * quotes values holding a comma; quoted fields may span lines). Unquoted fields are taken as
 * they are, like Zoho's Node reader, except for a line's final `\r`.
 */
function splitRecords(text: string, source: ZohoSource): RecordLine[] {
  const out: RecordLine[] = [];
  let line = 1;
  let i = 0;
  while (i <= text.length) {
    const start = line;
    const fields: string[] = [];
    let field = "";
    let quoted = false;
    let broken = false;
    for (;;) {
      if (i >= text.length) {
        fields.push(field);
        i++;
        break;
      }
      const c = text[i]!;
      if (c === '"' && field === "" && !quoted) {
        // A quoted field: read up to the closing quote ("" is an escaped quote).
        let j = i + 1;
        let value = "";
        let closed = false;
        while (j < text.length) {
          const d = text[j]!;
          if (d === '"') {
            if (text[j + 1] === '"') {
              value += '"';
              j += 2;
              continue;
            }
            closed = true;
            j++;
            break;
          }
          if (d === "\n") line++;
          value += d;
          j++;
        }
        if (!closed) {
          skip(source, start, null, `a quoted field opened on line ${start} is never closed; the rest of the file (to line ${line}) is unreadable`);
          return out;
        }
        field = value;
        quoted = true;
        i = j;
        continue;
      }
      if (c === ",") {
        fields.push(field);
        field = "";
        quoted = false;
        i++;
        continue;
      }
      if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
        fields.push(field);
        i += c === "\r" ? 2 : 1;
        line++;
        break;
      }
      if (quoted) broken = true;
      field += c;
      i++;
    }
    if (broken) skip(source, start, fields[0] || null, "has text after a closing quote");
    else out.push({ line: start, fields });
    if (i > text.length) break;
  }
  return out;
}

function headerColumns(header: RecordLine, source: ZohoSource): readonly (TokenField | null)[] {
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const mapped = names.map((n) => ZOHO_COLUMNS[n] ?? null);
  const known = mapped.every((f) => f !== null) && new Set(mapped).size === mapped.length;
  if (known) {
    const missing = POSITIONAL.filter((f) => !mapped.includes(f));
    if (missing.length > 0) source.warnings.push(`the header has no column for ${missing.join(", ")}: read as empty`);
    return mapped;
  }
  if (names.length === 9 || names.length === 10) {
    source.warnings.push(`the header names are not Zoho's (${names.map((n) => n.slice(0, 20)).join(",").slice(0, 200)}); columns are read by position, as Zoho does`);
    return POSITIONAL.slice(0, names.length);
  }
  throw new TokenStoreError("CORRUPT_DATA", `not a Zoho token file: the header has ${names.length} columns with names Zoho does not use`);
}

/** Checks one record's values; returns it, or reports it as skipped. */
function readRow(raw: RawZohoRow, line: number, source: ZohoSource): Candidate | null {
  const id = raw.id ?? null;
  const expiry = parseExpiry(raw.expiresAt ?? null);
  if ("error" in expiry) {
    skip(source, line, id, expiry.error);
    return null;
  }
  if (expiry.note) note(source, line, id, expiry.note);
  const partial: PartialToken = {};
  for (const field of TOKEN_FIELDS) {
    if (field === "expiresAt") partial.expiresAt = expiry.value;
    else partial[field] = raw[field] ?? null;
  }
  let token: Candidate["token"];
  try {
    token = normalizeToken(partial);
  } catch (error) {
    if (!isTokenStoreError(error)) throw error;
    skip(source, line, id, stripPrefix(error.message));
    return null;
  }
  if (id === null) {
    if (selectorFor(token) === null) {
      skip(source, line, null, "has no id and no key (user name, access token, or grant/refresh token with client credentials)");
      return null;
    }
    note(source, line, null, "has no id: the store gives it a new one");
  } else if (!/^[0-9]{1,10}$/.test(id)) {
    note(source, line, id, "has a legacy (non-numeric or long) id, kept as it is; it cannot be exported back to a Zoho file");
  }
  return { line, id, token };
}

const MS_FLOOR = 100_000_000_000;

/**
 * `expiry_time` → epoch ms. Empty → null. Digits ≥ 1e11 → ms. Shorter digits (below March 1973
 * as ms) are seconds, a known Zoho/OAuth bug: converted, with a note. Anything else → unreadable.
 */
export function parseExpiry(raw: string | null): { value: number | null; note?: string } | { error: string } {
  if (raw === null || raw === "") return { value: null };
  if (!/^[0-9]{1,16}$/.test(raw)) return { error: "has an expiry_time that is not a decimal number of milliseconds" };
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) return { error: "has an expiry_time too large to be epoch milliseconds" };
  if (n === 0 || n >= MS_FLOOR) return { value: n };
  return { value: n * 1000, note: `expiry_time ${raw} looks like seconds, not milliseconds: read as ${n * 1000} ms` };
}

const KEY_LABELS: Record<keyof UniqueKeys, string> = {
  identity: "user name and client id",
  user: "user name",
  access: "access token",
  grant: "grant token",
  refresh: "refresh token",
};

/**
 * Keeps the first record for each id and each unique key, like Zoho (which reads the first
 * matching row). A later record with a taken id keeps its data under a new id; a later record
 * with another record's user + client or access/grant/refresh token is skipped (a store cannot
 * hold both, and Zoho never reads it by that key).
 */
function resolveDuplicates(ordered: readonly Candidate[], source: ZohoSource): void {
  const ids = new Map<string, number>();
  const keys = new Map<string, number>();
  const accepted: ZohoRecord[] = [];
  for (const c of ordered) {
    const mine = uniqueKeys(c.token);
    const clash = (Object.keys(KEY_LABELS) as (keyof UniqueKeys)[])
      .filter((k) => k !== "user")
      .find((k) => mine[k] !== null && keys.has(`${k}:${mine[k]}`));
    if (clash) {
      skip(source, c.line, c.id, `has the same ${KEY_LABELS[clash]} as line ${keys.get(`${clash}:${mine[clash]}`)}, which is kept (Zoho reads the first)`);
      continue;
    }
    let token: PartialToken = c.token;
    if (c.id !== null) {
      const first = ids.get(c.id);
      if (first !== undefined) {
        token = { ...token, id: null };
        if (selectorFor(token) === null) {
          skip(source, c.line, c.id, `repeats the id of line ${first} and has no other key`);
          continue;
        }
        note(source, c.line, c.id, `repeats the id of line ${first} (old Zoho SDK id bug): the store gives it a new id`);
      } else ids.set(c.id, c.line);
    }
    for (const k of ["identity", "access", "grant", "refresh"] as const) if (mine[k] !== null) keys.set(`${k}:${mine[k]}`, c.line);
    accepted.push({ line: c.line, token });
  }
  source.records.push(...accepted.sort((a, b) => a.line - b.line));
  source.skipped.sort((a, b) => a.line - b.line);
  source.notes.sort((a, b) => a.line - b.line);
}

function skip(source: ZohoSource, line: number, id: string | null, reason: string): void {
  source.skipped.push({ line, id: safeId(id), reason });
}

function note(source: ZohoSource, line: number, id: string | null, reason: string): void {
  source.notes.push({ line, id: safeId(id), reason });
}

/** Ids are not secrets, but a mangled row can put anything in column one: keep it short. */
function safeId(id: string | null): string | null {
  return id === null ? null : id.length > 64 ? `${id.slice(0, 61)}...` : id;
}

function stripPrefix(message: string): string {
  return message.replace(/^\[tokenstore[^\]]*\] /, "");
}

// ---------------------------------------------------------------- writing

/** One reason a token cannot be written to a Zoho token file. */
export interface ZohoExportProblem {
  /** The token's id ("" when it has none). */
  id: string;
  /** The token field at fault. */
  field: TokenField;
  reason: string;
}

/**
 * Thrown (code INVALID_TOKEN) when tokens cannot be written as a Zoho token file. Names each
 * token id and field, never the value. Nothing is written.
 */
export class ZohoExportError extends TokenStoreError {
  readonly problems: readonly ZohoExportProblem[];

  constructor(problems: readonly ZohoExportProblem[]) {
    const shown = problems.slice(0, 10).map((p) => `token "${p.id}" field "${p.field}" ${p.reason}`);
    const more = problems.length > 10 ? `; and ${problems.length - 10} more` : "";
    super("INVALID_TOKEN", `cannot write a Zoho token file: ${shown.join("; ")}${more}`, { store: "zoho-file" });
    this.problems = problems;
  }
}

const FORBIDDEN: readonly [RegExp, string][] = [
  [/,/, "contains a comma"],
  [/"/, "contains a double quote"],
  [/\r/, "contains a carriage return"],
  [/\n/, "contains a line feed"],
];

/**
 * Formats tokens the way Zoho's Node.js SDK 8.0 FileStore writes them: the NODE8 header, one
 * line per token, LF, no quoting, no trailing newline, null as an empty field. Throws
 * ZohoExportError for a value Zoho cannot read back (`,` `"` CR LF, or "" which reads as null) or an id that is not a
 * decimal of at most 10 characters.
 */
export function formatZohoTokenFile(tokens: Iterable<PartialToken>): string {
  const problems: ZohoExportProblem[] = [];
  const lines = [ZOHO_FILE_HEADER];
  for (const token of tokens) {
    const id = typeof token.id === "string" ? token.id : "";
    if (!/^[0-9]{1,10}$/.test(id)) {
      problems.push({ id: safeId(id) ?? "", field: "id", reason: "is not a decimal id of at most 10 characters (Zoho ids)" });
    }
    const values = TOKEN_FIELDS.map((field) => {
      const value = token[field];
      if (value === null || value === undefined) return "";
      if (field === "expiresAt") return String(value);
      // Zoho reads an empty field as null: "" would come back as a different value.
      if (value === "" && field !== "id") problems.push({ id: safeId(id) ?? "", field, reason: "is an empty string, which Zoho reads back as null" });
      for (const [pattern, reason] of FORBIDDEN) {
        if (pattern.test(value as string) && field !== "id") problems.push({ id: safeId(id) ?? "", field, reason });
      }
      return value as string;
    });
    lines.push(values.join(","));
  }
  if (problems.length > 0) throw new ZohoExportError(problems);
  return lines.join("\n");
}

/**
 * Writes tokens as a Zoho token file, atomically: a temp file (mode 0600) in the same directory,
 * flushed, then renamed over `path`. Throws ZohoExportError before touching anything when a token
 * cannot be written.
 */
export async function writeZohoTokenFile(path: string, tokens: Iterable<PartialToken>): Promise<void> {
  const text = formatZohoTokenFile(tokens);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

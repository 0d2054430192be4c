import { existsSync, readFileSync, statSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { isTokenStoreError, redactToken, TokenStoreError, type Token, type TokenStore } from "@tokenstore/core";
import type { ImportSummary, ZohoSource } from "@tokenstore/zoho";
import { runConformanceCommand } from "./conformance.js";
import { processIo, type Io } from "./io.js";
import { openStore, StoreUrlError } from "@tokenstore/url";
import { isKnownUrl, isZohoSource, parseStoreArg, parseZohoUrl, UsageError, type ZohoSpec } from "./stores.js";

export type { Io } from "./io.js";
export { loadTarget, renderReport, runConformanceCommand, type BackendReport } from "./conformance.js";
export { parseZohoUrl, UsageError, type ZohoSpec } from "./stores.js";

const HELP: Record<string, string> = {
  main: `tokenstore — run the TokenStore conformance suite, import, export and list OAuth tokens

Usage:
  tokenstore conformance [URL…] [--module FILE]… [--group NAME]… [--json]
  tokenstore import SOURCE DEST-URL [--allow-skipped] [--progress]
  tokenstore export SOURCE zoho-file:PATH [--force]
  tokenstore list URL [--json]
  tokenstore COMMAND --help

Store URLs:
  memory:                         a store in this process (empty each run)
  file:PATH                       @tokenstore/file
  sqlite:PATH[?table=T]           @tokenstore/sqlite (table default oauthtoken)
  mysql://user:pw@host:port/db[?table=T]
  postgres://… or postgresql://…[?table=T&schema=S]
  redis://… or rediss://…[?prefix=P]
  mongodb://… or mongodb+srv://…[?collection=C&database=D]
Zoho sources (import SOURCE, export target):
  zoho-file:PATH                  a Zoho SDK token file (sdk_tokens.txt); a bare PATH means the same
  zoho-sqlite:PATH[?table=T]      the Python SDK sample's zohooauth.db (read-only; table default oauthtoken)
  zoho-mysql://user@host:port/db[?table=T]   Zoho's DBStore table (db default zohooauth, table default oauthtoken)

Options:
  --debug     print stack traces of errors (and of each conformance failure, with causes)
  --help, -h  show help
  --version   print the version

Exit codes: 0 ok, 1 failure, 2 usage error. Passwords in URLs are never printed.
`,
  conformance: `tokenstore conformance [URL…] [--module FILE]… [--group NAME]… [--json]

Runs the shared conformance suite against each store and prints a matrix (group × backend:
pass/fail/skip counts and time), then the failures. Exits 1 if any test fails or a requested
backend cannot run.

Every test gets a fresh, empty location, removed afterwards:
  memory:          a new instance
  file:[DIR]       a new temp dir inside DIR (default: the OS temp dir) per test
  sqlite:[DIR]     likewise
  mysql/postgres   a random table per test, dropped afterwards (with the adapter's helper tables
                   and routines)
  redis            a random key prefix per test, its keys deleted afterwards
  mongodb          a random collection per test, dropped afterwards

With no URL and no --module: memory, file and sqlite in temp dirs, plus MySQL, PostgreSQL,
Redis and MongoDB from TOKENSTORE_{MYSQL,POSTGRES,REDIS,MONGO}_URL (or the defaults
mysql://root@127.0.0.1:3306/test, postgres://postgres@127.0.0.1:5432/test,
redis://127.0.0.1:6379/0, mongodb://127.0.0.1:27017/tokenstore). A server that does not
answer within 1.5 s is shown as SKIPPED with the reason.

Options:
  --module FILE   also test your own store: FILE's default export (or "target" export) is a
                  ConformanceTarget, or a function returning one (see examples/)
  --group NAME    run only this group (repeatable)
  --json          print the results as JSON
`,
  import: `tokenstore import SOURCE DEST-URL [--allow-skipped] [--progress]

Imports tokens into the store DEST-URL. SOURCE is a Zoho source (zoho-file:PATH or a bare
PATH, zoho-sqlite:PATH, zoho-mysql://…) or another store URL (store-to-store copy).

Ids are kept; a token the destination already holds is updated (nothing stored is cleared);
a different token holding the same id is never overwritten (the import gets a new id).
Importing twice leaves the same tokens. Prints what was inserted, updated, unchanged and
skipped (with line numbers and reasons, never secrets). Progress goes to stderr for large
inputs (or always with --progress).

Exits 1 when records were skipped, unless --allow-skipped.
`,
  export: `tokenstore export SOURCE zoho-file:PATH [--force]

Writes every token of SOURCE (a store URL or a Zoho source) as a Zoho SDK token file that
Zoho's FileStore reads: NODE8 header, LF, no quoting, no trailing newline, mode 0600,
written atomically. Refuses (exit 1, nothing written) tokens whose id is not a decimal of at
most 10 characters or whose values contain , " CR or LF, naming the token id and field.
An existing file is replaced only with --force.
`,
  list: `tokenstore list URL [--json]

Shows the tokens of a store (or a Zoho source) with secrets redacted: which secrets are
present, never their values. Expiry is shown as ISO time, relative ("in 3h", "expired 2d
ago") and raw epoch milliseconds.
`,
};

const GLOBAL = { debug: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

const COMMANDS = {
  conformance: { ...GLOBAL, module: { type: "string", multiple: true }, group: { type: "string", multiple: true }, json: { type: "boolean" } },
  import: { ...GLOBAL, "allow-skipped": { type: "boolean" }, progress: { type: "boolean" } },
  export: { ...GLOBAL, force: { type: "boolean" } },
  list: { ...GLOBAL, json: { type: "boolean" } },
} satisfies Record<string, ParseArgsConfig["options"]>;

type Command = keyof typeof COMMANDS;

/** Runs the CLI; resolves the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const debug = argv.includes("--debug");
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === "help") {
      io[command === undefined ? "stderr" : "stdout"](HELP.main!);
      return command === undefined ? 2 : 0;
    }
    if (command === "--help" || command === "-h") {
      io.stdout(HELP.main!);
      return 0;
    }
    if (command === "--version" || command === "-v") {
      io.stdout(`${version()}\n`);
      return 0;
    }
    if (!(command in COMMANDS)) throw new UsageError(`unknown command "${command.slice(0, 40)}"`);
    const name = command as Command;
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options: COMMANDS[name], allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const { values, positionals } = parsed as { values: Record<string, unknown>; positionals: string[] };
    if (values.help) {
      io.stdout(HELP[name]!);
      return 0;
    }
    switch (name) {
      case "conformance":
        return await runConformanceCommand(
          { urls: positionals, modules: (values.module as string[]) ?? [], groups: (values.group as string[]) ?? [], json: values.json === true, debug },
          io,
        );
      case "import":
        if (positionals.length !== 2) throw new UsageError("import needs SOURCE and DEST-URL");
        return await importCommand(positionals[0]!, positionals[1]!, values, io);
      case "export":
        if (positionals.length !== 2) throw new UsageError("export needs SOURCE and zoho-file:PATH");
        return await exportCommand(positionals[0]!, positionals[1]!, values.force === true, io);
      case "list":
        if (positionals.length !== 1) throw new UsageError("list needs one URL");
        return await listCommand(positionals[0]!, values.json === true, io);
    }
  } catch (error) {
    return reportError(error, debug, io, command);
  }
}

function reportError(error: unknown, debug: boolean, io: Io, command: string | undefined): number {
  if (error instanceof UsageError || error instanceof StoreUrlError) {
    io.stderr(`error: ${error.message}\n${command && command in COMMANDS ? `see: tokenstore ${command} --help` : "see: tokenstore --help"}\n`);
    return 2;
  }
  if (isTokenStoreError(error)) io.stderr(`error: ${error.message} (code ${error.code})\n`);
  else {
    // Not ours: show its first line only (a driver's details can be long); codes are safe.
    const e = error as { message?: unknown; code?: unknown };
    const message = typeof e?.message === "string" ? e.message.split("\n")[0] : String(error);
    io.stderr(`error: ${message}${typeof e?.code === "string" ? ` (code ${e.code})` : ""}\n`);
  }
  if (debug) {
    for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) io.stderr(`${depth ? "caused by: " : ""}${e.stack ?? e.message}\n`);
  } else io.stderr("(run with --debug for details)\n");
  return 1;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

// ---------------------------------------------------------------- sources and stores

type Zoho = typeof import("@tokenstore/zoho");

async function zoho(): Promise<Zoho> {
  return import("@tokenstore/zoho");
}

/** A Zoho source argument: zoho-*: URLs, or a bare path to an existing token file. */
function zohoSpec(arg: string): ZohoSpec | null {
  if (isZohoSource(arg)) return parseZohoUrl(arg);
  if (isKnownUrl(arg)) return null;
  if (existsSync(arg) && statSync(arg).isFile()) return parseZohoUrl(`zoho-file:${arg}`);
  throw new UsageError(`"${arg.slice(0, 200)}" is neither a store URL nor an existing Zoho token file`);
}

async function readZohoSource(spec: ZohoSpec): Promise<ZohoSource> {
  const z = await zoho();
  if (spec.kind === "zoho-file") return z.readZohoTokenFile(spec.path!);
  if (spec.kind === "zoho-sqlite") return z.readZohoSqliteTable({ path: spec.path!, ...(spec.table ? { table: spec.table } : {}) });
  return z.readZohoMysqlTable({ url: spec.url!, ...(spec.table ? { table: spec.table } : {}) });
}

/** Opens SOURCE as a store: a store URL, or a Zoho source read into a memory store. */
async function openSource(arg: string, io: Io): Promise<TokenStore> {
  const spec = zohoSpec(arg);
  if (!spec) return openStore(arg);
  const { MemoryTokenStore } = await import("@tokenstore/memory");
  const store = new MemoryTokenStore();
  const summary = await (await zoho()).importZohoSource(await readZohoSource(spec), store);
  if (summary.skipped.length > 0 || summary.warnings.length > 0) io.stderr(describeIssues(summary, spec.display));
  return store;
}

async function withStores<T>(stores: (TokenStore | undefined)[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    await Promise.allSettled(stores.filter((s): s is TokenStore => s !== undefined).map((s) => s.close()));
  }
}

// ---------------------------------------------------------------- import

/** Progress on stderr: one redrawn line on a terminal, else a line every 10%. */
function progressReporter(io: Io, always: boolean): (done: number, total: number) => void {
  let lastShown = 0;
  let lastTenth = -1;
  return (done, total) => {
    if (!always && total < 1000) return;
    const now = Date.now();
    if (io.stderrIsTTY) {
      if (done === total || now - lastShown > 200) {
        lastShown = now;
        io.stderr(`\rimporting ${done}/${total} (${Math.floor((done / total) * 100)}%)${done === total ? "\n" : ""}`);
      }
      return;
    }
    const tenth = Math.floor((done / total) * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      io.stderr(`importing ${done}/${total} (${tenth * 10}%)\n`);
    }
  };
}

async function importCommand(sourceArg: string, destArg: string, values: Record<string, unknown>, io: Io): Promise<number> {
  const zohoSource = zohoSpec(sourceArg);
  const sourceSpec = zohoSource ? null : parseStoreArg(sourceArg);
  const destSpec = parseStoreArg(destArg);
  const z = await zoho();
  const onProgress = progressReporter(io, values.progress === true);
  let source: TokenStore | undefined;
  let dest: TokenStore | undefined;
  let summary: ImportSummary;
  try {
    dest = await openStore(destArg);
    if (zohoSource) summary = await z.importZohoSource(await readZohoSource(zohoSource), dest, { onProgress });
    else {
      source = await openStore(sourceArg);
      summary = await z.copyTokens(source, dest, { onProgress });
    }
  } finally {
    await Promise.allSettled([source?.close(), dest?.close()]);
  }
  {
    const from = zohoSource ? zohoSource.display : sourceSpec!.display;
    io.stdout(
      `imported ${from} into ${destSpec.display}\n` +
        `  ${summary.total} read: ${summary.inserted} inserted, ${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.skipped.length} skipped\n`,
    );
    io.stdout(describeIssues(summary, from, true));
    if (summary.skipped.length > 0 && values["allow-skipped"] !== true) {
      io.stderr(`error: ${summary.skipped.length} record${summary.skipped.length === 1 ? " was" : "s were"} not imported (see "skipped" above; --allow-skipped to accept)\n`);
      return 1;
    }
    return 0;
  }
}

/** Lists warnings, notes and skipped records: line/row numbers, ids and reasons only. */
function describeIssues(summary: Pick<ImportSummary, "kind" | "skipped" | "notes" | "warnings">, from: string, withNotes = false): string {
  const unit = summary.kind === "file" ? "line" : summary.kind === "table" ? "row" : "token";
  const where = (i: { line: number; id: string | null }) => `${unit} ${i.line}${i.id !== null ? ` (id ${JSON.stringify(i.id)})` : ""}`;
  const lines: string[] = [];
  if (summary.warnings.length > 0) lines.push(`warnings (${from}):`, ...summary.warnings.map((w) => `  ${w}`));
  if (withNotes && summary.notes.length > 0) lines.push("notes:", ...summary.notes.map((n) => `  ${where(n)}: ${n.reason}`));
  if (summary.skipped.length > 0) lines.push(`skipped (${from}):`, ...summary.skipped.map((s) => `  ${where(s)}: ${s.reason}`));
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

// ---------------------------------------------------------------- export

async function exportCommand(sourceArg: string, targetArg: string, force: boolean, io: Io): Promise<number> {
  if (!targetArg.startsWith("zoho-file:")) throw new UsageError(`export writes Zoho token files only: the target must be zoho-file:PATH, not "${targetArg.slice(0, 60)}"`);
  const target = parseZohoUrl(targetArg);
  if (existsSync(target.path!) && !force) {
    throw new TokenStoreError("INVALID_OPTIONS", `${target.path} exists; use --force to replace it`);
  }
  const z = await zoho();
  const source = await openSource(sourceArg, io);
  const written = await withStores([source], () => z.exportZohoFile(source, target.path!));
  io.stdout(`exported ${written} token${written === 1 ? "" : "s"} to ${target.display}\n`);
  return 0;
}

// ---------------------------------------------------------------- list

const UNITS: [number, string][] = [
  [86_400_000, "d"],
  [3_600_000, "h"],
  [60_000, "m"],
  [1000, "s"],
];

/** "in 3h", "expired 2d ago", "in 45s"; whole units, largest that fits. */
export function relativeTime(at: number, now = Date.now()): string {
  const diff = at - now;
  const abs = Math.abs(diff);
  const [size, unit] = UNITS.find(([size]) => abs >= size) ?? [1000, "s"];
  const amount = `${Math.floor(abs / size)}${unit}`;
  return diff >= 0 ? `in ${amount}` : `expired ${amount} ago`;
}

/** ISO time of an epoch-ms expiry, or null when no Date can hold it. */
function isoTime(expiresAt: number): string | null {
  const date = new Date(expiresAt);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function expiryText(expiresAt: number | null, now: number): string {
  if (expiresAt === null) return "-";
  return `${isoTime(expiresAt) ?? "beyond any date"} ${relativeTime(expiresAt, now)} (${expiresAt})`;
}

/** Stored text shown in a terminal: control characters (escape sequences, newlines) made visible. */
function printable(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

const SECRET_FLAGS = [
  ["clientSecret", "S"],
  ["refreshToken", "R"],
  ["accessToken", "A"],
  ["grantToken", "G"],
] as const;

async function listCommand(arg: string, json: boolean, io: Io): Promise<number> {
  const store = await openSource(arg, io);
  const tokens = await withStores([store], () => store.getTokens());
  const now = Date.now();
  if (json) {
    const out = tokens.map((t) => ({
      ...redactToken({ ...t }),
      expiresAtIso: t.expiresAt === null ? null : isoTime(t.expiresAt),
      expiresIn: t.expiresAt === null ? null : relativeTime(t.expiresAt, now),
    }));
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const header = ["ID", "USER", "CLIENT ID", "HAS", "EXPIRES", "API DOMAIN"];
  const rows = tokens.map((t: Token) => [
    printable(t.id),
    t.userName === null ? "-" : printable(t.userName),
    t.clientId === null ? "-" : printable(t.clientId),
    SECRET_FLAGS.map(([field, flag]) => (t[field] !== null ? flag : "-")).join(""),
    expiryText(t.expiresAt, now),
    t.apiDomain === null ? "-" : printable(t.apiDomain),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  io.stdout([fmt(header), ...rows.map(fmt)].join("\n") + "\n");
  io.stdout(`${tokens.length} token${tokens.length === 1 ? "" : "s"}. HAS: S client secret, R refresh token, A access token, G grant token (values hidden)\n`);
  return 0;
}

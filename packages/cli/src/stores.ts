import { isStoreUrl, parseStoreUrl, redactUrl, type ParsedStoreUrl } from "@tokenstore/url";

// Store URLs are @tokenstore/url's; this file adds the CLI's Zoho sources and usage errors.

export type ZohoKind = "zoho-file" | "zoho-mysql" | "zoho-sqlite";

export interface ZohoSpec {
  kind: ZohoKind;
  display: string;
  path?: string;
  url?: string;
  table?: string;
}

/** Thrown for input the user must fix (exit code 2; so is @tokenstore/url's StoreUrlError). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

function schemeOf(arg: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(arg);
  return m ? m[1]!.toLowerCase() : null;
}

export function isZohoSource(arg: string): boolean {
  return ["zoho-file", "zoho-mysql", "zoho-sqlite"].includes(schemeOf(arg) ?? "");
}

/** True when `arg` starts with a scheme this CLI knows (a store or a Zoho source). */
export function isKnownUrl(arg: string): boolean {
  return isStoreUrl(arg) || isZohoSource(arg);
}

/** Parses a store URL; a Zoho source where a store is needed gets a hint. */
export function parseStoreArg(arg: string): ParsedStoreUrl {
  const scheme = schemeOf(arg);
  if (scheme && scheme.startsWith("zoho-")) throw new UsageError(`${scheme}: is a Zoho source, not a store: use it as the SOURCE of "import" or the target of "export"`);
  return parseStoreUrl(arg);
}

/** Parses a Zoho source: zoho-file:PATH, zoho-sqlite:PATH[?table=], zoho-mysql://user@host:port/db[?table=]. */
export function parseZohoUrl(arg: string): ZohoSpec {
  const scheme = schemeOf(arg);
  // Written like the store URLs file:, sqlite: and mysql://, and parsed as those.
  if (scheme === "zoho-file" || scheme === "zoho-sqlite") {
    const { path, table } = parseStoreUrl(`${scheme.slice("zoho-".length)}:${arg.slice(scheme.length + 1)}`);
    if (path === undefined) throw new UsageError(`${scheme}: needs a path, e.g. ${scheme}:./${scheme === "zoho-file" ? "sdk_tokens.txt" : "zohooauth.db"}`);
    return { kind: scheme, display: arg, path, ...(table ? { table } : {}) };
  }
  if (scheme === "zoho-mysql") {
    const { serverUrl, table } = parseStoreUrl(`mysql:${arg.slice("zoho-mysql:".length)}`);
    return { kind: "zoho-mysql", display: redactUrl(arg), url: serverUrl!, ...(table ? { table } : {}) };
  }
  throw new UsageError(`not a Zoho source: "${redactUrl(arg)}". Use zoho-file:PATH, zoho-sqlite:PATH or zoho-mysql://user@host:port/db`);
}

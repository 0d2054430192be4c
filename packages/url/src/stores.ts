import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TokenStoreError, type BaseStoreOptions, type TokenStore } from "@tokenstore/core";

export type StoreKind = "memory" | "file" | "sqlite" | "mysql" | "postgres" | "redis" | "mongo";

/** What a store URL names. */
export interface ParsedStoreUrl {
  kind: StoreKind;
  /** The URL as shown to people: password hidden. */
  display: string;
  /** Server stores: the URL the driver gets (our parameters removed, the driver's own kept). */
  serverUrl?: string;
  /** file, sqlite: the absolute path; undefined when the URL gives none (`file:`). */
  path?: string;
  table?: string;
  schema?: string;
  prefix?: string;
  collection?: string;
  database?: string;
}

/** Options for the adapter beyond what the URL says (they win over the URL's), e.g. `operationTimeoutMs`. */
export type OpenStoreOptions = BaseStoreOptions & Record<string, unknown>;

/** A store URL that cannot be used as written. */
export class StoreUrlError extends TokenStoreError {
  constructor(message: string) {
    super("INVALID_OPTIONS", message);
  }
}

const KINDS: Record<string, StoreKind> = {
  memory: "memory",
  file: "file",
  sqlite: "sqlite",
  mysql: "mysql",
  postgres: "postgres",
  postgresql: "postgres",
  redis: "redis",
  rediss: "redis",
  mongodb: "mongo",
  "mongodb+srv": "mongo",
};

const OUR_PARAMS = ["table", "schema", "prefix", "collection", "database"] as const;
type Param = (typeof OUR_PARAMS)[number];

/** Our query parameters per kind; everything else stays in the driver's URL. */
const PARAMS: Record<StoreKind, readonly Param[]> = {
  memory: [],
  file: [],
  sqlite: ["table"],
  mysql: ["table"],
  postgres: ["table", "schema"],
  redis: ["prefix"],
  mongo: ["collection", "database"],
};

/** Hides a URL's password: `mysql://root:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    // Drivers also take credentials as query parameters (pg: ?password=, mongodb: ?authMechanismProperties=…).
    for (const key of [...parsed.searchParams.keys()]) {
      if (SECRET_PARAM.test(key)) parsed.searchParams.set(key, "***");
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@").replace(/([?&][^=&]*(?:pass|secret|token|key|auth)[^=&]*=)[^&]*/gi, "$1***");
  }
}

const SECRET_PARAM = /pass|secret|token|key|auth|credential/i;

function kindOf(url: string): StoreKind | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  return scheme !== undefined && Object.hasOwn(KINDS, scheme) ? KINDS[scheme] : undefined;
}

/** True when `url` starts with a scheme of a store (it may still be invalid). */
export function isStoreUrl(url: string): boolean {
  return kindOf(url) !== undefined;
}

/** Splits `PATH?table=x` into path and our parameters (only when every parameter is ours). */
function splitPath(rest: string, allowed: readonly Param[], url: string): { path: string; params: URLSearchParams } {
  const q = rest.lastIndexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(rest.slice(q + 1));
    const keys = [...params.keys()];
    if (keys.length > 0 && keys.every((k) => (allowed as readonly string[]).includes(k))) return { path: rest.slice(0, q), params };
    if (keys.length > 0 && allowed.length > 0 && keys.some((k) => (allowed as readonly string[]).includes(k))) {
      throw new StoreUrlError(`unknown parameter in "${url}": allowed are ${allowed.join(", ")}`);
    }
  }
  return { path: rest, params: new URLSearchParams() };
}

/** Takes our parameters out of a server URL; refuses ours that this kind does not take. */
function splitServerUrl(url: string, allowed: readonly Param[]): { serverUrl: string; params: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreUrlError(`not a valid URL: ${redactUrl(url)}`);
  }
  const params: Record<string, string> = {};
  for (const key of allowed) {
    const value = parsed.searchParams.get(key);
    if (value !== null) {
      params[key] = value;
      parsed.searchParams.delete(key);
    }
  }
  for (const key of OUR_PARAMS) {
    if (parsed.searchParams.has(key)) throw new StoreUrlError(`"${key}" is not a parameter of ${parsed.protocol} URLs (allowed: ${allowed.join(", ") || "none"})`);
  }
  return { serverUrl: parsed.toString(), params };
}

/** Parses a store URL (see the README's table). Throws StoreUrlError for anything else. */
export function parseStoreUrl(url: string): ParsedStoreUrl {
  const kind = kindOf(url);
  if (kind === "memory") {
    if (url.slice("memory:".length) !== "") throw new StoreUrlError(`"memory:" takes no path: ${url}`);
    return { kind, display: "memory:" };
  }
  if (kind === "file" || kind === "sqlite") {
    const { path, params } = splitPath(url.slice(url.indexOf(":") + 1), PARAMS[kind], url);
    const parsed: ParsedStoreUrl = { kind, display: url };
    // `file:///abs` is a file URL; anything else is a path, relative to the current directory.
    if (path !== "") parsed.path = resolve(path.startsWith("//") ? fileURLToPath(`file:${path}`) : path);
    if (params.get("table")) parsed.table = params.get("table")!;
    return parsed;
  }
  if (kind) {
    const { serverUrl, params } = splitServerUrl(url, PARAMS[kind]);
    return { kind, display: redactUrl(url), serverUrl, ...params };
  }
  throw new StoreUrlError(`not a store URL: "${redactUrl(url)}". Use memory:, file:PATH, sqlite:PATH, mysql://…, postgres://…, redis://…, mongodb://…`);
}

/** The store URL of `parsed` with some of our parameters changed (password kept). */
export function withParams(parsed: ParsedStoreUrl, changes: Partial<Record<Param, string>>): string {
  const values = PARAMS[parsed.kind].flatMap((key): [Param, string][] => {
    const value = changes[key] ?? parsed[key];
    return value ? [[key, value]] : [];
  });
  if (parsed.serverUrl === undefined) {
    const query = new URLSearchParams(values).toString();
    return `${parsed.kind}:${parsed.path ?? ""}${query ? `?${query}` : ""}`;
  }
  const url = new URL(parsed.serverUrl);
  for (const [key, value] of values) url.searchParams.set(key, value);
  return url.toString();
}

// ---------------------------------------------------------------- servers

export interface ServerUrl {
  kind: "mysql" | "postgres" | "redis" | "mongo";
  /** The product's name, e.g. "PostgreSQL". */
  label: string;
  /** The environment variable that overrides the default, e.g. TOKENSTORE_POSTGRES_URL. */
  env: string;
  /** The variable's value, else the default (the local test server). */
  url: string;
}

const SERVERS: readonly ServerUrl[] = [
  { kind: "mysql", label: "MySQL", env: "TOKENSTORE_MYSQL_URL", url: "mysql://root@127.0.0.1:3306/test" },
  { kind: "postgres", label: "PostgreSQL", env: "TOKENSTORE_POSTGRES_URL", url: "postgres://postgres@127.0.0.1:5432/test" },
  { kind: "redis", label: "Redis", env: "TOKENSTORE_REDIS_URL", url: "redis://127.0.0.1:6379/0" },
  { kind: "mongo", label: "MongoDB", env: "TOKENSTORE_MONGO_URL", url: "mongodb://127.0.0.1:27017/tokenstore" },
];

/** The URL of each server store: TOKENSTORE_{MYSQL,POSTGRES,REDIS,MONGO}_URL, else the local default. */
export function defaultServerUrls(env: Record<string, string | undefined> = process.env): ServerUrl[] {
  return SERVERS.map((server) => ({ ...server, url: env[server.env] || server.url }));
}

// ---------------------------------------------------------------- adapters

/** Imports a package at run time (adapters and drivers are optional: a missing one gets a clear error). */
export async function loadModule(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new TokenStoreError("INVALID_OPTIONS", `cannot load ${specifier} (${detail}); is it installed and built?`, { cause: error });
  }
}

const FACTORIES: Record<StoreKind, [pkg: string, factory: string]> = {
  memory: ["@tokenstore/memory", "createMemoryStore"],
  file: ["@tokenstore/file", "createFileStore"],
  sqlite: ["@tokenstore/sqlite", "createSqliteStore"],
  mysql: ["@tokenstore/mysql", "createMysqlStore"],
  postgres: ["@tokenstore/postgres", "createPostgresStore"],
  redis: ["@tokenstore/redis", "createRedisStore"],
  mongo: ["@tokenstore/mongo", "createMongoStore"],
};

type Factory = (options: Record<string, unknown>) => TokenStore;

/** Loads the adapter of `kind` and returns its factory. */
export async function adapterFactory(kind: StoreKind): Promise<Factory> {
  const [pkg, name] = FACTORIES[kind];
  const create = (await loadModule(pkg))[name];
  if (typeof create !== "function") throw new TokenStoreError("INVALID_OPTIONS", `${pkg} does not export ${name}()`);
  return create as Factory;
}

/**
 * Opens the store a URL names (loading its adapter now). The store creates its own connection
 * and closes it in `close()`. `options` go to the adapter too (e.g. `operationTimeoutMs`).
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<TokenStore> {
  const parsed = parseStoreUrl(url);
  if ((parsed.kind === "file" || parsed.kind === "sqlite") && parsed.path === undefined) {
    throw new StoreUrlError(`${parsed.kind}: needs a path, e.g. ${parsed.kind}:./tokens.${parsed.kind === "file" ? "json" : "db"}`);
  }
  const adapterOptions: Record<string, unknown> = {};
  if (parsed.path !== undefined) adapterOptions.path = parsed.path;
  if (parsed.serverUrl !== undefined) adapterOptions.url = parsed.serverUrl;
  for (const key of OUR_PARAMS) if (parsed[key] !== undefined) adapterOptions[key] = parsed[key];
  return (await adapterFactory(parsed.kind))({ ...adapterOptions, ...options });
}

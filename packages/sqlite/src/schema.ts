import type Database from "better-sqlite3";
import { TokenStoreError } from "@tokenstore/core";

/** Zoho's `oauthtoken` columns, in Zoho's order (its samples read rows by position). */
export const ZOHO_COLUMNS = [
  "id",
  "user_name",
  "client_id",
  "client_secret",
  "refresh_token",
  "access_token",
  "grant_token",
  "expiry_time",
  "redirect_url",
  "api_domain",
] as const;

/** Our own columns, only ever appended after `api_domain`. */
const LEASE_COLUMNS = [
  ["lease_holder", "TEXT"],
  ["lease_until", "INTEGER"],
] as const;

/** One table outside the token table: the never-reused id counter of each token table. */
export const META_TABLE = "tokenstore_meta";

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function checkTableName(table: string): string {
  if (typeof table !== "string" || !TABLE_NAME.test(table) || table.toLowerCase() === META_TABLE || table.toLowerCase().startsWith("sqlite_")) {
    throw new TokenStoreError("INVALID_OPTIONS", `table must match ${TABLE_NAME} and not be "${META_TABLE}" or sqlite_*`, { store: "sqlite" });
  }
  return table;
}

export const q = (name: string) => `"${name}"`;

/**
 * The unique keys of core's rules, as partial indexes: the user + client pair (a NULL and an
 * empty client id are the same "no client"), and each access, grant and refresh token. Empty
 * strings and NULLs are outside every index, as they are never keys. Queries repeat each
 * index's WHERE term so that SQLite can use the partial index.
 */
export function keyIndexes(table: string) {
  return [
    { key: "identity", name: `${table}_user_client`, on: `user_name, ifnull(client_id, '')`, where: `user_name <> ''` },
    { key: "access", name: `${table}_access_token`, on: "access_token", where: `access_token <> ''` },
    { key: "grant", name: `${table}_grant_token`, on: "grant_token", where: `grant_token <> ''` },
    { key: "refresh", name: `${table}_refresh_token`, on: "refresh_token", where: `refresh_token <> ''` },
  ] as const;
}

/** The schema as SQL statements, for users who run migrations themselves. Idempotent. */
export function schemaSql(table = "oauthtoken"): string[] {
  checkTableName(table);
  return [
    // Zoho's sample declaration verbatim (every column TEXT affinity), plus the lease columns.
    `CREATE TABLE IF NOT EXISTS ${q(table)} (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), ` +
      `client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), ` +
      `expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), ` +
      `${LEASE_COLUMNS.map(([c, t]) => `${c} ${t}`).join(", ")}, primary key (id))`,
    ...keyIndexes(table).map((i) => `CREATE UNIQUE INDEX IF NOT EXISTS ${q(i.name)} ON ${q(table)} (${i.on}) WHERE ${i.where}`),
    `CREATE TABLE IF NOT EXISTS ${META_TABLE} (table_name TEXT PRIMARY KEY, next_id INTEGER NOT NULL)`,
    // Starts the counter above every decimal id already there (Zoho's rows, for one).
    `INSERT OR IGNORE INTO ${META_TABLE} (table_name, next_id) SELECT '${table}', ifnull(max(CAST(id AS INTEGER)), 0) + 1 ` +
      `FROM ${q(table)} WHERE id GLOB '[1-9]*' AND id NOT GLOB '*[^0-9]*' AND length(id) <= 16`,
  ];
}

export interface MigrationReport {
  /**
   * Keys whose unique index could not be built because existing rows share a value (e.g.
   * duplicate user rows from Zoho's racy sample). They get a plain index instead: lookups stay
   * indexed, nothing is deleted, but saves cannot report CONFLICT on that key until the
   * duplicates are merged (the next open then makes the index unique).
   */
  nonUniqueKeys: string[];
}

/**
 * Creates or upgrades the schema in one IMMEDIATE transaction (safe when several processes
 * start at once): creates the table, or checks that an existing one starts with Zoho's ten
 * columns and appends the lease columns it lacks; then the key indexes and the id counter.
 */
export function migrate(database: Database.Database, table = "oauthtoken"): MigrationReport {
  checkTableName(table);
  const [createTable, ...rest] = schemaSql(table);
  const nonUniqueKeys: string[] = [];
  database.transaction(() => {
    database.exec(createTable!);
    const columns = (database.prepare(`PRAGMA table_info(${q(table)})`).all() as { name: string }[]).map((c) => c.name.toLowerCase());
    if (ZOHO_COLUMNS.some((c, i) => columns[i] !== c)) {
      throw new TokenStoreError(
        "BACKEND_ERROR",
        `table "${table}" exists but does not start with Zoho's columns ${ZOHO_COLUMNS.join(", ")} (it has ${columns.join(", ")})`,
        { store: "sqlite" },
      );
    }
    for (const [column, type] of LEASE_COLUMNS) {
      if (!columns.includes(column)) database.exec(`ALTER TABLE ${q(table)} ADD COLUMN ${column} ${type}`);
    }
    for (const index of keyIndexes(table)) {
      try {
        database.exec(`CREATE UNIQUE INDEX IF NOT EXISTS ${q(index.name)} ON ${q(table)} (${index.on}) WHERE ${index.where}`);
        database.exec(`DROP INDEX IF EXISTS ${q(`${index.name}_nonunique`)}`);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "SQLITE_CONSTRAINT_UNIQUE") throw error;
        database.exec(`CREATE INDEX IF NOT EXISTS ${q(`${index.name}_nonunique`)} ON ${q(table)} (${index.on}) WHERE ${index.where}`);
        nonUniqueKeys.push(index.key);
      }
    }
    for (const statement of rest.slice(keyIndexes(table).length)) database.exec(statement);
  }).immediate();
  return { nonUniqueKeys };
}

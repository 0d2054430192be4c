import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import type { PartialToken } from "@tokenstore/core";
import { BenchError } from "./measure.js";
import type { BenchToken } from "./tokens.js";

/** What the benchmark calls on a store: the TokenStore methods it measures. */
export interface Subject {
  findToken(partial: PartialToken): Promise<object | null>;
  findTokenById(id: string): Promise<object | null>;
  saveToken(token: PartialToken): Promise<object>;
  getTokens(): Promise<object[]>;
}

/**
 * The way Zoho's DBStore (NODE8/TS8 `db_store`) and the Kaizen SQLite sample store tokens,
 * reimplemented as the benchmark's reference. Faithful where it costs time:
 * - a new connection for every call (and a second one inside an inserting save, for the id);
 * - SQL built by string concatenation (here only with the bench's fixed, checked-safe values);
 * - no index but the primary key, so every lookup by user name or token scans the table;
 * - save = `update … set <every non-null column> where <key> limit 1`, then, when no row
 *   changed, `select max(id)` on another connection and an INSERT (bound, as Zoho does).
 * Deviations, each in the naive store's favour or needed to run at all:
 * - `id` is a BIGINT (Zoho: varchar(10)), so `max(id)` is numeric and cheap. Zoho's textual
 *   max repeats ids after 9, 99, 999… (notes §2.8 #9) and would fail here at once;
 * - Postgres rejects `update … limit`, so there the update has no LIMIT;
 * - not-found is null (Zoho NODE8 returns the input token, or never settles by id).
 * Two concurrent inserting saves can still read the same max(id) and collide on the primary
 * key, exactly as Zoho's do (notes §3 S7): the bench reports that as an error.
 */
export class NaiveStore implements Subject {
  constructor(
    readonly driver: NaiveDriver,
    readonly table: string,
  ) {}

  get label(): string {
    return this.driver.label;
  }

  async create(): Promise<void> {
    await this.#with((c) =>
      c.run(
        `create table ${this.table} (id bigint not null, user_name varchar(255), client_id varchar(255), ` +
          `client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), ` +
          `expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))`,
      ),
    );
  }

  async drop(): Promise<void> {
    await this.#with((c) => c.run(`drop table if exists ${this.table}`));
  }

  /** Setup only: driver-level batch insert of tokens (ids included). */
  async load(tokens: BenchToken[]): Promise<void> {
    await this.driver.bulkInsert(this.table, tokens.map(toRow));
  }

  async findToken(partial: PartialToken): Promise<object | null> {
    const where = keyClause(partial);
    const rows = await this.#with((c) => c.rows(`select * from ${this.table} where ${where} limit 1`));
    return rows[0] ?? null;
  }

  async findTokenById(id: string): Promise<object | null> {
    const rows = await this.#with((c) => c.rows(`select * from ${this.table} where id = ${quote(id)}`));
    return rows[0] ?? null;
  }

  async getTokens(): Promise<object[]> {
    return this.#with((c) => c.rows(`select * from ${this.table}`));
  }

  async saveToken(token: PartialToken): Promise<object> {
    const row = toRow(token);
    const set = COLUMNS.filter((c) => c !== "id" && row[c] !== null)
      .map((c) => `${c}=${quote(row[c]!)}`)
      .join(",");
    const where = keyClause(token);
    return this.#with(async (c) => {
      const changed = await c.run(`update ${this.table} set ${set} where ${where}${this.driver.updateLimit ? " limit 1" : ""}`);
      if (changed > 0) return row;
      row.id = row.id ?? (await this.#generateId());
      await c.run(`insert into ${this.table} (${COLUMNS.join(",")}) values (${this.driver.params(COLUMNS.length)})`, COLUMNS.map((k) => row[k]));
      return row;
    });
  }

  async #generateId(): Promise<string> {
    const rows = await this.#with((c) => c.rows(`select max(id) as id from ${this.table}`));
    const max = rows[0]?.id;
    return max === null || max === undefined ? "1" : String(Number(max) + 1);
  }

  async #with<T>(work: (c: NaiveConnection) => Promise<T>): Promise<T> {
    const connection = await this.driver.connect();
    try {
      return await work(connection);
    } finally {
      await connection.end();
    }
  }
}

const COLUMNS = ["id", "user_name", "client_id", "client_secret", "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain"] as const;
type Column = (typeof COLUMNS)[number];
type Row = Record<Column, string | null>;

function toRow(t: PartialToken | BenchToken): Row {
  const p = t as PartialToken;
  return {
    id: p.id ?? null,
    user_name: p.userName ?? null,
    client_id: p.clientId ?? null,
    client_secret: p.clientSecret ?? null,
    refresh_token: p.refreshToken ?? null,
    access_token: p.accessToken ?? null,
    grant_token: p.grantToken ?? null,
    expiry_time: p.expiresAt === null || p.expiresAt === undefined ? null : String(p.expiresAt),
    redirect_url: p.redirectUrl ?? null,
    api_domain: p.apiDomain ?? null,
  };
}

/** Zoho's key choice (notes §2.7, precedence bug fixed): user name, access token, grant, refresh. */
function keyClause(t: PartialToken): string {
  if (t.userName) return `user_name = ${quote(t.userName)}`;
  if (t.accessToken && !t.clientId && !t.clientSecret) return `access_token = ${quote(t.accessToken)}`;
  if (t.clientId && t.clientSecret && t.grantToken) return `grant_token = ${quote(t.grantToken)}`;
  if (t.clientId && t.clientSecret && t.refreshToken) return `refresh_token = ${quote(t.refreshToken)}`;
  throw new BenchError("naive store: token has no key");
}

const SAFE = /^[A-Za-z0-9.@:/_-]*$/;

/** Concatenation is safe here only because every bench value is checked against SAFE. */
function quote(value: string): string {
  if (!SAFE.test(value)) throw new BenchError("naive store: refusing to concatenate a value with unsafe characters");
  return `'${value}'`;
}

export interface NaiveConnection {
  rows(sql: string): Promise<Record<string, unknown>[]>;
  /** Runs a statement, resolves the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  end(): Promise<void>;
}

export interface NaiveDriver {
  label: string;
  updateLimit: boolean;
  params(n: number): string;
  connect(): Promise<NaiveConnection>;
  bulkInsert(table: string, rows: Row[]): Promise<void>;
}

const CHUNK = 1000;

export function mysqlNaiveDriver(url: string): NaiveDriver {
  return {
    label: "naive MySQL (Zoho DBStore)",
    updateLimit: true,
    params: (n) => Array(n).fill("?").join(","),
    async connect() {
      const c = await mysql.createConnection({ uri: url, connectTimeout: 5000 });
      return {
        rows: async (sql) => (await c.query(sql))[0] as Record<string, unknown>[],
        run: async (sql, params) => ((await c.query(sql, params))[0] as mysql.ResultSetHeader).affectedRows,
        end: () => c.end(),
      };
    },
    async bulkInsert(table, rows) {
      const c = await mysql.createConnection({ uri: url, connectTimeout: 5000 });
      try {
        for (let i = 0; i < rows.length; i += CHUNK) {
          const chunk = rows.slice(i, i + CHUNK).map((r) => COLUMNS.map((k) => r[k]));
          await c.query(`insert into ${table} (${COLUMNS.join(",")}) values ?`, [chunk]);
        }
      } finally {
        await c.end();
      }
    },
  };
}

export function postgresNaiveDriver(url: string): NaiveDriver {
  return {
    label: "naive Postgres (Zoho DBStore, no LIMIT on update)",
    updateLimit: false,
    params: (n) => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(","),
    async connect() {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      c.on("error", () => {});
      await c.connect();
      return {
        rows: async (sql) => (await c.query(sql)).rows,
        run: async (sql, params) => (await c.query(sql, params)).rowCount ?? 0,
        end: () => c.end(),
      };
    },
    async bulkInsert(table, rows) {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        for (let i = 0; i < rows.length; i += CHUNK) {
          const chunk = rows.slice(i, i + CHUNK);
          const arrays = COLUMNS.map((k) => chunk.map((r) => r[k]));
          const casts = COLUMNS.map((k, j) => `$${j + 1}::${k === "id" ? "bigint" : "text"}[]`).join(",");
          await c.query(`insert into ${table} (${COLUMNS.join(",")}) select * from unnest(${casts})`, arrays);
        }
      } finally {
        await c.end();
      }
    },
  };
}

/** The Kaizen SQLite sample: `sqlite3.connect(file)` in every method, default pragmas. */
export function sqliteNaiveDriver(path: string): NaiveDriver {
  return {
    label: "naive SQLite (Zoho Kaizen sample)",
    updateLimit: true,
    params: (n) => Array(n).fill("?").join(","),
    async connect() {
      const db = new Database(path, { timeout: 5000 });
      return {
        rows: async (sql) => db.prepare(sql).all() as Record<string, unknown>[],
        run: async (sql, params) => db.prepare(sql).run(...(params ?? [])).changes,
        end: async () => {
          db.close();
        },
      };
    },
    async bulkInsert(table, rows) {
      const db = new Database(path, { timeout: 5000 });
      try {
        const insert = db.prepare(`insert into ${table} (${COLUMNS.join(",")}) values (${COLUMNS.map(() => "?").join(",")})`);
        db.transaction((all: Row[]) => {
          for (const r of all) insert.run(...COLUMNS.map((k) => r[k]));
        })(rows as never);
      } finally {
        db.close();
      }
    },
  };
}

// The few driver types the bench uses. @types/pg and @types/better-sqlite3 are not in this
// package's devDependencies (adding them needs a `pnpm install`); once they are, delete this file.
declare module "pg" {
  interface QueryResult<R> {
    rows: R[];
    rowCount: number | null;
  }
  interface Config {
    connectionString?: string;
    connectionTimeoutMillis?: number;
    max?: number;
    /** Command-line options sent at connection start, e.g. "-c synchronous_commit=off". */
    options?: string;
  }
  class Client {
    constructor(config?: Config);
    connect(): Promise<void>;
    query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
    end(): Promise<void>;
    on(event: "error", listener: (error: Error) => void): this;
  }
  class Pool {
    constructor(config?: Config);
    query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
    end(): Promise<void>;
    on(event: "error", listener: (error: Error) => void): this;
  }
  const pg: { Client: typeof Client; Pool: typeof Pool };
  export default pg;
}

declare module "better-sqlite3" {
  interface Statement {
    all(...params: unknown[]): unknown[];
    get(...params: unknown[]): unknown;
    run(...params: unknown[]): { changes: number };
  }
  interface Database {
    prepare(sql: string): Statement;
    exec(sql: string): Database;
    close(): void;
    transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  }
  const Database: new (filename: string, options?: { timeout?: number }) => Database;
  export default Database;
}

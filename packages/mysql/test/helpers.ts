import type { Pool } from "mysql2/promise";
import { dropSql } from "../src/index.js";

/** Drops what a store created for `table`: the table, its id counter and its save procedure. */
export async function dropSchema(pool: Pool, table: string): Promise<void> {
  for (const statement of dropSql(table)) await pool.query(statement);
}

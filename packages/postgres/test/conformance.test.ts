import { randomBytes } from "node:crypto";
import { afterAll } from "vitest";
import pg from "pg";
import { describeConformance } from "@tokenstore/conformance/vitest";
import { dropSql, PostgresTokenStore } from "../src/index.js";

const URL = process.env.TOKENSTORE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const admin = new pg.Pool({ connectionString: URL, max: 2 });
afterAll(() => admin.end());

describeConformance({
  name: "postgres",
  durable: true,
  shared: true,
  setup: () => {
    const table = `ts_conf_${randomBytes(6).toString("hex")}`;
    return {
      // Small pools: the concurrency group opens 50 instances at once (max_connections is 100).
      open: () => new PostgresTokenStore({ url: URL, table, poolSize: 1 }),
      destroy: async () => {
        await admin.query(dropSql(table));
      },
    };
  },
});

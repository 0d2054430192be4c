import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { afterAll } from "vitest";
import { describeConformance } from "@tokenstore/conformance/vitest";
import { MysqlTokenStore } from "../src/index.js";
import { dropSchema } from "./helpers.js";

const URL = process.env.TOKENSTORE_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const admin = mysql.createPool({ uri: URL, connectionLimit: 2 });
afterAll(() => admin.end());

describeConformance({
  name: "mysql",
  durable: true,
  shared: true,
  setup: () => {
    const table = `ts_conf_${randomBytes(6).toString("hex")}`;
    return {
      // Small pools: the concurrency group opens 50 instances at once (max_connections is 151).
      open: () => new MysqlTokenStore({ url: URL, table, poolSize: 1 }),
      destroy: () => dropSchema(admin, table),
    };
  },
});

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { freePort, sleep } from "../../../scripts/test-support.js";
export { freePort, sleep };

const run = promisify(execFile);
const SERVER = process.env.TOKENSTORE_MARIADBD ?? "/usr/sbin/mariadbd";
const INSTALL = process.env.TOKENSTORE_MARIADB_INSTALL_DB ?? "/usr/bin/mariadb-install-db";

/** Why a private server cannot be started here, or null when it can. */
export function privateServerUnavailable(): string | null {
  if (!existsSync(SERVER) || !existsSync(INSTALL)) return `no ${SERVER} or ${INSTALL}`;
  return null;
}

/** A private MariaDB server this test owns (never the shared one on 3306), data in a temp dir. */
export class PrivateMariadb {
  readonly dir = mkdtempSync(join(tmpdir(), "tokenstore-mariadb-"));
  #process: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  async init(): Promise<void> {
    await run(INSTALL, ["--no-defaults", `--datadir=${join(this.dir, "data")}`, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"], { timeout: 60_000 });
    await this.start();
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: this.port, user: "root" });
    await connection.query("CREATE DATABASE test");
    await connection.end();
  }

  async start(): Promise<void> {
    const args = [
      "--no-defaults",
      `--datadir=${join(this.dir, "data")}`,
      `--port=${this.port}`,
      "--bind-address=127.0.0.1",
      `--socket=${join(this.dir, "s.sock")}`,
      `--pid-file=${join(this.dir, "pid")}`,
      "--user=root",
      "--skip-log-bin",
      "--innodb-buffer-pool-size=16M",
      `--log-error=${join(this.dir, "error.log")}`,
    ];
    const child = spawn(SERVER, args, { stdio: "ignore" });
    this.#process = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`mariadbd on port ${this.port} exited with ${child.exitCode}`);
      try {
        const connection = await mysql.createConnection({ host: "127.0.0.1", port: this.port, user: "root", connectTimeout: 1000 });
        await connection.end();
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`mariadbd on port ${this.port} did not start`);
  }

  /** A clean shutdown (SIGTERM): clients see their connections closed. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async destroy(): Promise<void> {
    const child = this.#process;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}


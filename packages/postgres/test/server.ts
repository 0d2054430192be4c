import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../../scripts/test-support.js";
export { freePort };

const run = promisify(execFile);
const BIN = process.env.TOKENSTORE_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Why a private server cannot be started here, or null when it can. */
export function privateServerUnavailable(): string | null {
  if (!existsSync(join(BIN, "initdb")) || !existsSync(join(BIN, "pg_ctl"))) return `no initdb/pg_ctl in ${BIN}`;
  if (process.getuid?.() !== 0) return "not root (initdb must run as the postgres user via runuser)";
  return null;
}

/**
 * A private PostgreSQL cluster this test owns (never the shared one on 5432): a temp data dir
 * owned by the postgres user, trust auth, listening on 127.0.0.1:port.
 */
export class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), "tokenstore-pg-"));
  readonly data = join(this.dir, "data");

  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  #asPostgres(command: string, args: string[]) {
    return run("runuser", ["-u", "postgres", "--", join(BIN, command), ...args], { timeout: 60_000 });
  }

  async init(): Promise<void> {
    chownSync(this.dir, uid("postgres"), gid("postgres"));
    await this.#asPostgres("initdb", ["-D", this.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20 -c shared_buffers=16MB`;
    await this.#asPostgres("pg_ctl", ["-D", this.data, "-o", options, "-l", join(this.dir, "log"), "-w", "-t", "30", "start"]);
  }

  async stop(): Promise<void> {
    await this.#asPostgres("pg_ctl", ["-D", this.data, "-m", "fast", "-w", "stop"]);
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function uid(user: string): number {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}

function gid(user: string): number {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

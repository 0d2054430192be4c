import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describeConformance } from "@tokenstore/conformance/vitest";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { createRedisStore } from "../src/index.js";
import { destroyPrefix, randomPrefix } from "./helpers.js";
import { PrivateRedis, sleep } from "./server.js";

// A private 3-master Redis Cluster (no replicas) on ports this test picks; the whole
// conformance suite runs against it through ioredis Cluster clients.
const servers: PrivateRedis[] = [];
let admin: Cluster | undefined;

beforeAll(async () => {
  for (const port of await clusterPorts(3)) {
    const server = new PrivateRedis(port, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"]);
    servers.push(server);
    await server.start();
  }
  await promisify(execFile)("redis-cli", ["--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", "0", "--cluster-yes"]);
  await waitForClusterOk(servers[0]!.port);
  admin = clusterClient();
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await Promise.all(servers.map((s) => s.destroy()));
});

function clusterClient(): Cluster {
  const client = new Cluster(
    servers.map((s) => ({ host: "127.0.0.1", port: s.port })),
    { redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: 1 } },
  );
  client.on("error", () => {});
  return client;
}

describeConformance({
  name: "redis cluster",
  shared: true,
  setup: () => {
    const prefix = randomPrefix();
    const clients: Cluster[] = [];
    return {
      open: () => {
        const client = clusterClient();
        clients.push(client);
        return createRedisStore({ client, prefix });
      },
      destroy: async () => {
        await destroyPrefix(admin!, prefix);
        for (const client of clients) client.disconnect();
      },
    };
  },
});

/** Ports p with p + 10000 (the cluster bus) also free, below 55 536. */
async function clusterPorts(n: number): Promise<number[]> {
  const { createServer } = await import("node:net");
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  const ports: number[] = [];
  while (ports.length < n) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!ports.includes(port) && (await free(port)) && (await free(port + 10_000))) ports.push(port);
  }
  return ports;
}

async function waitForClusterOk(port: number): Promise<void> {
  const probe = new Redis(port, "127.0.0.1");
  try {
    for (let i = 0; i < 100; i++) {
      const info = (await probe.call("CLUSTER", "INFO")) as string;
      if (info.includes("cluster_state:ok")) return;
      await sleep(100);
    }
    throw new Error("the private cluster did not reach cluster_state:ok");
  } finally {
    probe.disconnect();
  }
}

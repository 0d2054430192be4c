import { createServer, type IncomingMessage, type Server } from "node:http";

export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  params: URLSearchParams;
  receivedAt: number;
}

export interface Reply {
  status?: number;
  body: unknown;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
}

/** A local token endpoint whose answers the test scripts; records every request. */
export class FakeEndpoint {
  readonly requests: ReceivedRequest[] = [];
  handler: (request: ReceivedRequest) => Reply | Promise<Reply> = () => ({ status: 500, body: "no handler" });
  #server: Server | undefined;
  url = "";

  async start(): Promise<this> {
    this.#server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const request = { path: req.url ?? "", headers: req.headers, params: new URLSearchParams(Buffer.concat(chunks).toString("utf8")), receivedAt: Date.now() };
      this.requests.push(request);
      try {
        const reply = await this.handler(request);
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        const raw = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status ?? 200, { "content-type": typeof reply.body === "string" ? "text/plain" : "application/json" });
        res.end(raw);
      } catch {
        res.destroy();
      }
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    if (!address || typeof address === "string") throw new Error("no port");
    this.url = `http://127.0.0.1:${address.port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

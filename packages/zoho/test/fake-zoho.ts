import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for Zoho: the accounts token endpoint and the few CRM endpoints the SDK calls,
 * on 127.0.0.1 at a random port. It issues real-looking tokens, checks them like Zoho does
 * (single-use grant codes, client credentials, unknown or expired access tokens get 401) and
 * counts every request, so tests can assert exactly how often the SDK went to Zoho.
 */

export interface FakeUser {
  email: string;
  clientId: string;
  clientSecret: string;
  /** What token responses say in `api_domain`; defaults to the server's own URL. */
  apiDomain?: string;
  /** The user's org id (zgid); the SDK appends it to the email to name the user. Default "10000001". */
  zgid?: string;
}

export type Endpoint = "grant" | "refresh" | "currentUser" | "org" | "other";

export interface ApiRequest {
  endpoint: Endpoint;
  /** The user the presented access token belongs to, or null for an unknown/expired one. */
  user: string | null;
  accessToken: string | null;
  status: number;
}

interface Grant extends FakeUser {
  used: boolean;
}
interface Issued {
  user: FakeUser;
  expiresAt: number;
}

export const DEFAULT_ZGID = "10000001";

/** The user name Zoho's SDK 8.0 saves after looking the user up (utility getUserName: email + ":" + org zgid). */
export function sdkUserName(user: FakeUser): string {
  return `${user.email}:${user.zgid ?? DEFAULT_ZGID}`;
}

export class FakeZoho {
  readonly counts: Record<Endpoint, number> = { grant: 0, refresh: 0, currentUser: 0, org: 0, other: 0 };
  readonly requests: ApiRequest[] = [];
  /** Seconds an access token lives (Zoho: 3600). */
  expiresInSeconds = 3600;
  readonly #grants = new Map<string, Grant>();
  readonly #refreshTokens = new Map<string, FakeUser>();
  readonly #accessTokens = new Map<string, Issued>();
  /** Every token issued, in order, per user email. */
  readonly #issued = new Map<string, { access: string[]; refresh: string[] }>();
  readonly #server: Server;
  url = "";

  constructor() {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  get accountsUrl(): string {
    return `${this.url}/oauth/v2/token`;
  }

  /** A fresh single-use grant code for this user and client, as Zoho's consent screen would give. */
  grantCode(user: FakeUser): string {
    const code = `1000.${hex(16)}.${hex(16)}`;
    this.#grants.set(code, { ...user, used: false });
    return code;
  }

  /** Makes the server know a refresh token issued before (e.g. one imported from a Zoho file). */
  knowRefreshToken(refreshToken: string, user: FakeUser): void {
    this.#refreshTokens.set(refreshToken, user);
  }

  /** The user an access token belongs to, if it is known and unexpired. */
  ownerOf(accessToken: string | null | undefined): string | null {
    const issued = accessToken ? this.#accessTokens.get(accessToken) : undefined;
    return issued && issued.expiresAt > Date.now() ? issued.user.email : null;
  }

  /** The access and refresh tokens issued to this user so far, oldest first. */
  issuedTo(email: string): { access: string[]; refresh: string[] } {
    return this.#issued.get(email) ?? { access: [], refresh: [] };
  }

  #log(user: FakeUser) {
    let log = this.#issued.get(user.email);
    if (!log) this.#issued.set(user.email, (log = { access: [], refresh: [] }));
    return log;
  }

  resetCounts(): void {
    for (const key of Object.keys(this.counts) as Endpoint[]) this.counts[key] = 0;
    this.requests.length = 0;
  }

  /** Requests to the accounts server (grant exchanges + refreshes). */
  get tokenRequests(): number {
    return this.counts.grant + this.counts.refresh;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    if (req.method === "POST" && url.pathname === "/oauth/v2/token") return this.#token(req, res);
    const accessToken = /^Zoho-oauthtoken (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? null;
    const user = this.ownerOf(accessToken);
    const endpoint: Endpoint =
      req.method === "GET" && url.pathname === "/crm/v8/users" && url.searchParams.get("type") === "CurrentUser"
        ? "currentUser"
        : req.method === "GET" && url.pathname === "/crm/v8/org"
          ? "org"
          : "other";
    this.counts[endpoint]++;
    const status = endpoint === "other" ? 404 : user ? 200 : 401;
    this.requests.push({ endpoint, user, accessToken, status });
    if (status === 404) return send(res, 404, { code: "INVALID_URL_PATTERN", details: {}, message: "Please check if the URL trying to access is a correct one", status: "error" });
    if (status === 401) return send(res, 401, { code: "INVALID_TOKEN", details: {}, message: "invalid oauth token", status: "error" });
    if (endpoint === "currentUser") {
      return send(res, 200, {
        users: [{ id: "111000000000001", email: user, full_name: user, status: "active" }],
        info: { per_page: 200, count: 1, page: 1, more_records: false },
      });
    }
    const zgid = this.#accessTokens.get(accessToken!)!.user.zgid ?? DEFAULT_ZGID;
    return send(res, 200, { org: [{ id: "111000000000099", zgid, company_name: "Fake Zoho Org", primary_email: user }] });
  }

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // The SDK posts multipart/form-data (form-data package); let the platform parse it.
    const form = await new Response(Buffer.concat(chunks), { headers: { "content-type": req.headers["content-type"] ?? "" } }).formData();
    const field = (name: string) => {
      const value = form.get(name);
      return typeof value === "string" ? value : null;
    };
    const grantType = field("grant_type");
    const sameClient = (user: FakeUser) => user.clientId === field("client_id") && user.clientSecret === field("client_secret");
    if (grantType === "authorization_code") {
      this.counts.grant++;
      const grant = this.#grants.get(field("code") ?? "");
      if (!grant || grant.used || !sameClient(grant)) return send(res, 200, { error: "invalid_code" });
      grant.used = true;
      const refreshToken = `1000.${hex(16)}.${hex(16)}`;
      const { used: _used, ...user } = grant;
      this.#refreshTokens.set(refreshToken, user);
      this.#log(user).refresh.push(refreshToken);
      return send(res, 200, { ...this.#accessToken(user), refresh_token: refreshToken });
    }
    if (grantType === "refresh_token") {
      this.counts.refresh++;
      const user = this.#refreshTokens.get(field("refresh_token") ?? "");
      if (!user || !sameClient(user)) return send(res, 200, { error: "invalid_code" });
      return send(res, 200, this.#accessToken(user));
    }
    this.counts.other++;
    return send(res, 200, { error: "unsupported_grant_type" });
  }

  #accessToken(user: FakeUser) {
    const accessToken = `1000.${hex(16)}.${hex(16)}`;
    this.#accessTokens.set(accessToken, { user, expiresAt: Date.now() + this.expiresInSeconds * 1000 });
    this.#log(user).access.push(accessToken);
    return { access_token: accessToken, api_domain: user.apiDomain ?? this.url, token_type: "Bearer", expires_in: this.expiresInSeconds };
  }
}

export async function startFakeZoho(): Promise<FakeZoho> {
  return new FakeZoho().start();
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json;charset=UTF-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

import { createServer, type Server } from "node:http";
// oidc-provider 9 ships no types.
// @ts-expect-error -- untyped module
import Provider from "oidc-provider";

export const BASIC_CLIENT = { clientId: "basic-client", clientSecret: "basic-client-secret" };
export const POST_CLIENT = { clientId: "post-client", clientSecret: "post-client-secret" };

export interface GrantEvent {
  at: number;
  grantType: string;
  clientId: string | undefined;
}

/**
 * A real OAuth 2.0 authorization server (oidc-provider) on 127.0.0.1 with refresh-token
 * rotation on: reusing a rotated refresh token fails with invalid_grant and revokes the grant.
 */
export class AuthServer {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  provider: any;
  server: Server | undefined;
  url = "";
  /** Successful token requests (refreshes and code exchanges). */
  readonly successes: GrantEvent[] = [];
  /** Every HTTP request that reached the token endpoint, whatever came of it. */
  tokenRequests = 0;
  /** Failed token requests with their OAuth error code. */
  readonly errors: (GrantEvent & { error: string })[] = [];

  async start(accessTokenTtlSec = 300): Promise<this> {
    const client = (c: { clientId: string; clientSecret: string }, method: string) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: ["http://127.0.0.1/callback"],
      token_endpoint_auth_method: method,
    });
    this.server = createServer();
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("no port");
    this.url = `http://127.0.0.1:${address.port}`;
    this.provider = new Provider(this.url, {
      clients: [client(BASIC_CLIENT, "client_secret_basic"), client(POST_CLIENT, "client_secret_post")],
      rotateRefreshToken: true,
      ttl: { AccessToken: accessTokenTtlSec, RefreshToken: 24 * 3600, Grant: 24 * 3600, IdToken: 3600, Session: 3600, Interaction: 600 },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
      features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    });
    const event = (ctx: { oidc?: { params?: Record<string, string | undefined>; client?: { clientId: string } } }) => ({
      at: Date.now(),
      grantType: String(ctx.oidc?.params?.grant_type ?? ""),
      clientId: ctx.oidc?.client?.clientId,
    });
    this.provider.on("grant.success", (ctx: never) => this.successes.push(event(ctx)));
    this.provider.on("grant.error", (ctx: never, error: { error?: string }) => this.errors.push({ ...event(ctx), error: String(error.error) }));
    this.server.on("request", (req) => {
      if (req.method === "POST" && req.url?.split("?")[0] === "/token") this.tokenRequests++;
    });
    this.server.on("request", this.provider.callback());
    return this;
  }

  get tokenEndpoint(): string {
    return `${this.url}/token`;
  }

  get revocationEndpoint(): string {
    return `${this.url}/token/revocation`;
  }

  /** Refresh requests that succeeded since the last reset. */
  get refreshCount(): number {
    return this.successes.filter((e) => e.grantType === "refresh_token").length;
  }

  reset(): void {
    this.tokenRequests = 0;
    this.successes.length = 0;
    this.errors.length = 0;
  }

  /** A user's consent, minted directly: a grant with offline_access and its first refresh token. */
  async mintRefreshToken(clientId: string, accountId: string): Promise<string> {
    const client = await this.provider.Client.find(clientId);
    const grant = new this.provider.Grant({ accountId, clientId });
    grant.addOIDCScope("openid offline_access");
    const grantId = await grant.save();
    const refreshToken = new this.provider.RefreshToken({ accountId, client, grantId, scope: "openid offline_access", gty: "authorization_code" });
    return refreshToken.save();
  }

  /** True when the provider would accept this refresh token (exists, not consumed, not expired). */
  async isLiveRefreshToken(value: string | null): Promise<boolean> {
    if (!value) return false;
    const token = await this.provider.RefreshToken.find(value);
    return !!token && token.isValid;
  }

  async isLiveAccessToken(value: string | null): Promise<boolean> {
    if (!value) return false;
    const token = await this.provider.AccessToken.find(value);
    return !!token && !token.isExpired;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

import { describe, expect, it } from "vitest";
import { BaseTokenStore, type SavePlan, type TokenRow } from "../src/index.js";

/** A backend whose every primitive runs `behaviour`: to test what the base class adds. */
class ProbeStore extends BaseTokenStore {
  readonly storeName = "probe";
  constructor(private readonly behaviour: () => Promise<never>, timeoutMs: number) {
    super({ operationTimeoutMs: timeoutMs });
  }
  protected selectRow = () => this.behaviour();
  protected upsertRow = (_plan: SavePlan): Promise<TokenRow | null> => this.behaviour();
  protected selectRowById = () => this.behaviour();
  protected deleteRow = () => this.behaviour();
  protected selectAllRows = () => this.behaviour();
  protected deleteAllRows = () => this.behaviour();
  protected async closeBackend() {}
}

describe("BaseTokenStore", () => {
  it("bounds a hanging backend with BACKEND_UNAVAILABLE", async () => {
    const store = new ProbeStore(() => new Promise<never>(() => {}), 100);
    const started = Date.now();
    await expect(store.findToken({ userName: "u" })).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE", store: "probe" });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("maps network errors to BACKEND_UNAVAILABLE and others to BACKEND_ERROR, without their text", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    await expect(new ProbeStore(() => Promise.reject(refused), 0).getTokens()).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE", cause: refused });
    const leaky = Object.assign(new Error("Duplicate entry 'SECRET-VALUE' for key 'x'"), { code: "ER_DUP_ENTRY" });
    const error = await new ProbeStore(() => Promise.reject(leaky), 0).saveToken({ userName: "u" }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "BACKEND_ERROR" });
    expect((error as Error).message).not.toContain("SECRET-VALUE");
    expect((error as Error).message).toContain("ER_DUP_ENTRY");
  });

  it("retries a save that lost a race, then gives up with BACKEND_ERROR", async () => {
    let calls = 0;
    class Racy extends ProbeStore {
      protected override upsertRow = async () => {
        calls++;
        return null;
      };
    }
    await expect(new Racy(() => Promise.reject(new Error("unused")), 0).saveToken({ userName: "u" })).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(calls).toBe(10);
  });

  it("checks input before touching the backend", async () => {
    let touched = false;
    const store = new ProbeStore(() => {
      touched = true;
      return Promise.reject(new Error("no"));
    }, 0);
    await expect(store.saveToken({})).rejects.toMatchObject({ code: "NO_KEY" });
    expect(await store.findToken({ refreshToken: "r" })).toBeNull();
    expect(await store.findTokenById("")).toBeNull();
    expect(touched).toBe(false);
  });
});

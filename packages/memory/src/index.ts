import {
  BaseTokenStore,
  checkLeaseArgs,
  TokenStoreError,
  TokenTable,
  type BaseStoreOptions,
  type SavePlan,
  type Selector,
  type TokenLeases,
  type TokenRow,
} from "@tokenstore/core";

export type MemoryStoreOptions = BaseStoreOptions;

/**
 * Keeps tokens in this process's memory: lost when the process exits. The reference
 * implementation of the rules, and the store for tests and single-process apps.
 */
export class MemoryTokenStore extends BaseTokenStore implements TokenLeases {
  readonly storeName = "memory";
  readonly #table = new TokenTable([], 1, "memory");
  readonly #leases = new Map<string, { holder: string; until: number }>();

  constructor(options: MemoryStoreOptions = {}) {
    super({ operationTimeoutMs: 0, ...options });
  }

  protected async selectRow(selector: Selector): Promise<TokenRow | null> {
    return this.#table.find(selector);
  }

  protected async upsertRow(plan: SavePlan): Promise<TokenRow> {
    return this.#table.save(plan, this.storeName);
  }

  protected async selectRowById(id: string): Promise<TokenRow | null> {
    return this.#table.get(id);
  }

  protected async deleteRow(id: string): Promise<boolean> {
    this.#leases.delete(id);
    return this.#table.delete(id);
  }

  protected async selectAllRows(): Promise<TokenRow[]> {
    return this.#table.list();
  }

  protected async deleteAllRows(): Promise<void> {
    this.#table.clear();
    this.#leases.clear();
  }

  protected async closeBackend(): Promise<void> {}

  async acquireLease(id: string, holder: string, ttlMs: number): Promise<boolean> {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      if (!this.#table.get(id)) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      const now = Date.now();
      const lease = this.#leases.get(id);
      if (lease && lease.holder !== holder && lease.until > now) return false;
      this.#leases.set(id, { holder, until: now + ttlMs });
      return true;
    });
  }

  async releaseLease(id: string, holder: string): Promise<boolean> {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => {
      const lease = this.#leases.get(id);
      if (!lease || lease.holder !== holder || lease.until <= Date.now()) return false;
      this.#leases.delete(id);
      return true;
    });
  }
}

export function createMemoryStore(options?: MemoryStoreOptions): MemoryTokenStore {
  return new MemoryTokenStore(options);
}

// An example of checking your own TokenStore backend with the conformance suite:
//
//   tokenstore conformance --module ./examples/custom-store.js
//
// The module's default export (or an export named `target`) is a ConformanceTarget, or a function
// returning one. `setup()` makes a fresh, empty location for one test; `open()` opens a store on
// it (called again for reopen and for extra instances); `destroy()` removes it afterwards.
//
// The backend here is a plain object per location (think: one table or one key prefix). A real
// backend extends BaseTokenStore the same way and translates the core's Selector and SavePlan
// into its queries; here core's TokenTable applies them in process.
import { BaseTokenStore, checkLeaseArgs, TokenStoreError, TokenTable } from "@tokenstore/core";

class ObjectTokenStore extends BaseTokenStore {
  storeName = "custom-object";
  #location;

  /** @param {{ table: TokenTable }} location where this store's tokens live */
  constructor(location) {
    super({ operationTimeoutMs: 5000 });
    this.#location = location;
  }

  async selectRow(selector) {
    return this.#location.table.find(selector);
  }
  async upsertRow(plan) {
    return this.#location.table.save(plan, this.storeName);
  }
  async selectRowById(id) {
    return this.#location.table.get(id);
  }
  async deleteRow(id) {
    this.#location.leases.delete(id);
    return this.#location.table.delete(id);
  }
  async selectAllRows() {
    return this.#location.table.list();
  }
  async deleteAllRows() {
    this.#location.table.clear();
    this.#location.leases.clear();
  }
  async closeBackend() {}

  // Optional (TokenLeases): one holder per token at a time, expiring by itself.
  async acquireLease(id, holder, ttlMs) {
    checkLeaseArgs(id, holder, ttlMs);
    return this.run("acquireLease", async () => {
      if (!this.#location.table.get(id)) throw new TokenStoreError("NOT_FOUND", `no token has the id "${id}"`, { store: this.storeName });
      const lease = this.#location.leases.get(id);
      const now = Date.now();
      if (lease && lease.holder !== holder && lease.until > now) return false;
      this.#location.leases.set(id, { holder, until: now + ttlMs });
      return true;
    });
  }
  async releaseLease(id, holder) {
    checkLeaseArgs(id, holder);
    return this.run("releaseLease", async () => {
      const lease = this.#location.leases.get(id);
      if (!lease || lease.holder !== holder || lease.until <= Date.now()) return false;
      this.#location.leases.delete(id);
      return true;
    });
  }
}

/** @type {import("@tokenstore/conformance").ConformanceTarget} */
export default {
  name: "custom-object",
  // Tokens outlive a store instance (they live in the location), and instances opened on one
  // location see each other's tokens.
  durable: true,
  shared: true,
  setup() {
    const location = { table: new TokenTable(), leases: new Map() };
    return {
      open: () => new ObjectTokenStore(location),
      destroy: () => {
        location.table.clear();
        location.leases.clear();
      },
    };
  },
};

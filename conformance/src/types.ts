import type { TokenStore } from "@tokenstore/core";

/** Where one test's tokens live: a fresh, empty file, table, key prefix, … */
export interface StoreLocation {
  /** Opens a store instance on this location. Called once per test, and again for extra instances. */
  open(): Promise<TokenStore> | TokenStore;
  /** Removes the location after the test (drop the table, delete the file). */
  destroy?(): Promise<void> | void;
}

/** A store under test. */
export interface ConformanceTarget {
  /** Shown in results, e.g. "postgres". */
  name: string;
  /** Makes a fresh, empty location; called once per test. */
  setup(): Promise<StoreLocation> | StoreLocation;
  /** Tokens survive `close()` and a new `open()` on the same location. Default true. */
  durable?: boolean;
  /**
   * Instances opened on one location share their tokens (separate connections, handles or
   * processes). Default true. When false, concurrency tests use one instance.
   */
  shared?: boolean;
}

export interface TestContext {
  /** A store opened on a fresh, empty location. */
  store: TokenStore;
  /** Opens another instance on the same location (closed for you after the test). */
  open(): Promise<TokenStore>;
  /** Closes `store` and opens a new instance on the same location. */
  reopen(): Promise<TokenStore>;
  target: Required<Pick<ConformanceTarget, "durable" | "shared">> & ConformanceTarget;
  /** Ends the test as skipped, with a reason. */
  skip(reason: string): never;
}

export interface ConformanceTest {
  name: string;
  run(context: TestContext): Promise<void>;
}

export interface ConformanceGroup {
  name: string;
  description: string;
  tests: ConformanceTest[];
}

export interface TestResult {
  target: string;
  group: string;
  test: string;
  status: "pass" | "fail" | "skip";
  durationMs: number;
  /** Failure message, or the reason for a skip. */
  message?: string;
  error?: unknown;
}

export class SkipTest extends Error {
  override readonly name = "SkipTest";
}

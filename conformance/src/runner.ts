import type { TokenStore } from "@tokenstore/core";
import { conformanceGroups } from "./suite.js";
import { SkipTest, type ConformanceTarget, type ConformanceTest, type StoreLocation, type TestContext, type TestResult } from "./types.js";

export interface RunOptions {
  /** Run only these groups (names as in `conformanceGroups`). */
  groups?: readonly string[];
  /** Called after each test. */
  onResult?: (result: TestResult) => void;
  /** Longest time one test may take, in ms. Default 60 000. */
  testTimeoutMs?: number;
}

/**
 * Runs one test against a fresh location of `target`: opens the store, runs the test, closes
 * every instance it opened and destroys the location. Throws what the test threw.
 */
export async function runConformanceTest(target: ConformanceTarget, test: ConformanceTest): Promise<void> {
  const full = { durable: true, shared: true, ...target };
  const location: StoreLocation = await target.setup();
  const opened: TokenStore[] = [];
  const open = async () => {
    const store = await location.open();
    opened.push(store);
    return store;
  };
  try {
    const context: TestContext = {
      store: await open(),
      open,
      reopen: async () => {
        await context.store.close();
        context.store = await open();
        return context.store;
      },
      target: full,
      skip(reason: string): never {
        throw new SkipTest(reason);
      },
    };
    await test.run(context);
  } finally {
    await Promise.allSettled(opened.map((s) => s.close()));
    await location.destroy?.();
  }
}

/** Runs the suite against `target` without a test framework and returns every test's result. */
export async function runConformance(target: ConformanceTarget, options: RunOptions = {}): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const timeoutMs = options.testTimeoutMs ?? 60_000;
  for (const group of conformanceGroups) {
    if (options.groups && !options.groups.includes(group.name)) continue;
    for (const test of group.tests) {
      const started = performance.now();
      let result: TestResult;
      try {
        await withTimeout(runConformanceTest(target, test), timeoutMs, `${group.name} › ${test.name}`);
        result = { target: target.name, group: group.name, test: test.name, status: "pass", durationMs: 0 };
      } catch (error) {
        result =
          error instanceof SkipTest
            ? { target: target.name, group: group.name, test: test.name, status: "skip", durationMs: 0, message: error.message }
            : { target: target.name, group: group.name, test: test.name, status: "fail", durationMs: 0, message: error instanceof Error ? error.message : String(error), error };
      }
      result.durationMs = performance.now() - started;
      results.push(result);
      options.onResult?.(result);
    }
  }
  return results;
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

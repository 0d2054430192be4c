import { describe, it } from "vitest";
import { runConformanceTest } from "./runner.js";
import { conformanceGroups } from "./suite.js";
import { SkipTest, type ConformanceTarget } from "./types.js";

export interface DescribeOptions {
  /** Register only these groups. */
  groups?: readonly string[];
}

/**
 * Registers the conformance suite in vitest: one `describe` per group, one `it` per rule.
 *
 * ```ts
 * describeConformance({ name: "my-store", setup: () => ({ open: () => new MyStore(...) }) });
 * ```
 */
export function describeConformance(target: ConformanceTarget, options: DescribeOptions = {}): void {
  describe(`TokenStore conformance: ${target.name}`, () => {
    for (const group of conformanceGroups) {
      if (options.groups && !options.groups.includes(group.name)) continue;
      describe(group.name, () => {
        for (const test of group.tests) {
          it(test.name, async (context) => {
            try {
              await runConformanceTest(target, test);
            } catch (error) {
              if (error instanceof SkipTest) context.skip(error.message);
              throw error;
            }
          });
        }
      });
    }
  });
}

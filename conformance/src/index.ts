export { conformanceGroups, sampleToken } from "./suite.js";
export { runConformance, runConformanceTest, type RunOptions } from "./runner.js";
export type { ConformanceGroup, ConformanceTarget, ConformanceTest, StoreLocation, TestContext, TestResult } from "./types.js";
export { SkipTest } from "./types.js";

export { runBenchmarks, settings, OPERATIONS, LOOKUPS, SAVES, IN_FLIGHT } from "./runner.js";
export type { BenchOptions, Report, StoreReport, ReferenceReport, Row, ScaleRow, RssReport, Sizes } from "./runner.js";
export { renderMarkdown, checkTargets, keptAnalysis, machine, LIMITS } from "./report.js";
export type { TargetCheck, Machine } from "./report.js";
export { isMeasurement } from "./measure.js";
export type { Measurement, Result, Timing } from "./measure.js";

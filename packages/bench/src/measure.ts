import { Bench } from "tinybench";

/** How long tinybench runs each task (per in-flight level). */
export interface Timing {
  /** Time budget per task, ms. */
  time: number;
  /** Minimum number of task calls. */
  iterations: number;
  warmupTime: number;
  warmupIterations: number;
}

export interface Measurement {
  /** Median latency of one operation, µs (task median / in-flight). */
  medianUs: number;
  /** Operations per second at the median (in-flight / task median). */
  opsPerSec: number;
  /** Task calls measured. */
  samples: number;
}

export type Result = Measurement | { error: string };

export function isMeasurement(r: Result | undefined): r is Measurement {
  return r !== undefined && "medianUs" in r;
}

/**
 * Measures `op` with tinybench. With `inFlight` > 1 each task call starts `inFlight` operations
 * at once and awaits them all, so one sample is the time for `inFlight` concurrent operations.
 */
export async function measure(name: string, op: () => Promise<unknown>, inFlight: number, timing: Timing): Promise<Result> {
  const bench = new Bench({ ...timing, throws: false });
  const task = inFlight === 1 ? op : () => Promise.all(Array.from({ length: inFlight }, op));
  bench.add(name, task, { async: true });
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state === "errored") return { error: describe(result.error) };
  if (result.state !== "completed" && result.state !== "aborted-with-statistics") return { error: `tinybench state ${result.state}` };
  const medianMs = result.latency.p50;
  if (!(medianMs > 0)) return { error: "median latency is 0 (timer resolution)" };
  return { medianUs: (medianMs * 1000) / inFlight, opsPerSec: (inFlight * 1000) / medianMs, samples: result.latency.samplesCount };
}

/** An error as a short line without driver messages (which may quote values). */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  if (error.name === "TokenStoreError" || error.name === "BenchError") return error.message;
  return code !== undefined ? `${error.name} ${String(code)}` : `${error.name}: ${error.message.slice(0, 120)}`;
}

/** A failure found by the benchmark itself (wrong result), safe to print. */
export class BenchError extends Error {
  override readonly name = "BenchError";
}

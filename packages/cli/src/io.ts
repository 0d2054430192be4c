/** Where the CLI writes and what it reads from its environment (swappable for in-process tests). */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** True when stderr is a terminal (progress redraws one line). */
  stderrIsTTY?: boolean;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
};

// Test helpers: run a real bin/halo-* binary (as a user would) and parse its JSONL stdout.
import { execa } from 'execa';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/src/testing/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines. */
  records: Record<string, any>[];
}

/** Run `halo-NAME args...`; never throws on a non-zero exit. */
export async function runCli(
  name: string,
  args: string[],
  options: { input?: string; cwd?: string; env?: Record<string, string>; timeout?: number } = {},
): Promise<CliResult> {
  const bin = path.join(ROOT, 'bin', `halo-${name}.js`);
  const r = await execa(process.execPath, [bin, ...args], {
    input: options.input ?? '',
    cwd: options.cwd ?? ROOT,
    env: options.env,
    reject: false,
    timeout: options.timeout ?? 240_000,
    stripFinalNewline: false,
  });
  const stdout = String(r.stdout ?? '');
  const records = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { __unparsed: l };
      }
    });
  return { exitCode: r.exitCode ?? -1, stdout, stderr: String(r.stderr ?? ''), records };
}

/** A fresh temporary folder for one test. */
export function tempDir(prefix = 'halo-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Records as JSONL text (for stdin). */
export function jsonl(records: unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

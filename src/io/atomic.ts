// Atomic file writes (temp file in the same folder + rename) and the skip-if-done check that
// makes re-runs resume: an output is reused when it exists and its sidecar hash matches.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';

/** Make `dir` (and parents), with a clear error when it cannot be made or written. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new HaloError(`${dir}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** A temp path next to `file`, so the final rename stays on one file system. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write `data` to `file` atomically: readers see the old file or the whole new one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await ensureDir(path.dirname(file));
  const tmp = tempPathFor(file);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new HaloError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Run `produce(tmp)` to make a file at a temp path, then rename it into place. */
export async function produceAtomic(file: string, produce: (tmp: string) => Promise<void>): Promise<void> {
  await ensureDir(path.dirname(file));
  const ext = path.extname(file);
  const tmp = `${tempPathFor(file)}${ext}`;
  try {
    await produce(tmp);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    const s = await stat(file);
    return s.isFile() && s.size > 0;
  } catch {
    return false;
  }
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/**
 * Outputs are "done" when the file exists and its `.done` sidecar records the same key
 * (a hash of the inputs and settings that made it). The sidecar is written after the file.
 */
export async function isDone(file: string, key: string): Promise<boolean> {
  if (!(await exists(file))) return false;
  try {
    return (await readFile(`${file}.done`, 'utf8')).trim() === key;
  } catch {
    return false;
  }
}

export async function markDone(file: string, key: string): Promise<void> {
  await writeFileAtomic(`${file}.done`, `${key}\n`);
}

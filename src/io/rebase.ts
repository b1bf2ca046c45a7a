// Media paths in records are relative to the folder of the record file they sit in. When a file
// from another folder is read, rebaseMedia() rewrites those paths relative to the current
// directory, so that every stage works with cwd-relative paths and the records it writes to
// stdout stay valid. Absolute paths are left as they are.
// Records written to stdout carry cwd-relative paths, and `> sub/records.jsonl` puts them in another
// folder; so when a path does not exist relative to the file's folder but does relative to the
// current directory, the current directory wins (decided once per field: the video, the patch dir).
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Fields that hold media paths, in any record type (nested samples of pairs included). */
const PATH_FIELDS = ['video', 'overlay', 'heatmap'] as const;
const PATCH_PATH_FIELDS = ['dir'] as const;
const PATCH_LIST_FIELDS = ['storyboards', 'clips'] as const;
const NESTED = ['win', 'lose'] as const;

function rebasePath(p: unknown, fromDir: string, cwd: string): unknown {
  if (typeof p !== 'string' || p === '' || path.isAbsolute(p)) return p;
  return path.relative(cwd, path.resolve(fromDir, p)) || '.';
}

/** The folder `p` (a relative path from a record) is relative to: the file's, or else the cwd's. */
function baseFor(p: unknown, fromDir: string, cwd: string): string {
  if (typeof p !== 'string' || p === '' || path.isAbsolute(p)) return fromDir;
  if (existsSync(path.resolve(fromDir, p))) return fromDir;
  return existsSync(path.resolve(cwd, p)) ? cwd : fromDir;
}

/** A copy of `record` with its media paths made relative to `cwd` instead of `fromDir`. */
export function rebaseMedia<T>(record: T, fromDir: string, cwd: string = process.cwd()): T {
  if (path.resolve(fromDir) === path.resolve(cwd)) return record;
  if (record === null || typeof record !== 'object') return record;
  const r = { ...(record as Record<string, unknown>) };
  for (const f of PATH_FIELDS) if (f in r) r[f] = rebasePath(r[f], baseFor(r[f], fromDir, cwd), cwd);
  const patches = r.patches;
  if (patches && typeof patches === 'object' && !Array.isArray(patches)) {
    const p = { ...(patches as Record<string, unknown>) };
    const base = baseFor(p.dir, fromDir, cwd);
    for (const f of PATCH_PATH_FIELDS) if (f in p) p[f] = rebasePath(p[f], base, cwd);
    for (const f of PATCH_LIST_FIELDS) {
      if (Array.isArray(p[f])) p[f] = (p[f] as unknown[]).map((x) => rebasePath(x, base, cwd));
    }
    r.patches = p;
  }
  for (const f of NESTED) if (r[f] && typeof r[f] === 'object') r[f] = rebaseMedia(r[f], fromDir, cwd);
  return r as T;
}

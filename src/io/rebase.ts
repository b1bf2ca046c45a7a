// Media paths in records are relative to the folder of the record file they sit in. When a file
// from another folder is read, rebaseMedia() rewrites those paths relative to the current
// directory, so that every stage works with cwd-relative paths and the records it writes to
// stdout stay valid. Absolute paths are left as they are.
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

/** A copy of `record` with its media paths made relative to `cwd` instead of `fromDir`. */
export function rebaseMedia<T>(record: T, fromDir: string, cwd: string = process.cwd()): T {
  if (path.resolve(fromDir) === path.resolve(cwd)) return record;
  if (record === null || typeof record !== 'object') return record;
  const r = { ...(record as Record<string, unknown>) };
  for (const f of PATH_FIELDS) if (f in r) r[f] = rebasePath(r[f], fromDir, cwd);
  const patches = r.patches;
  if (patches && typeof patches === 'object' && !Array.isArray(patches)) {
    const p = { ...(patches as Record<string, unknown>) };
    for (const f of PATCH_PATH_FIELDS) if (f in p) p[f] = rebasePath(p[f], fromDir, cwd);
    for (const f of PATCH_LIST_FIELDS) {
      if (Array.isArray(p[f])) p[f] = (p[f] as unknown[]).map((x) => rebasePath(x, fromDir, cwd));
    }
    r.patches = p;
  }
  for (const f of NESTED) if (r[f] && typeof r[f] === 'object') r[f] = rebaseMedia(r[f], fromDir, cwd);
  return r as T;
}

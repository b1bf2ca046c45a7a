// The teacher registry: maps `--teacher NAME` to a factory that builds a Teacher from
// halo-label's flags and the environment. Teachers are imported lazily, so a run pays only for
// the one it uses and a teacher module that is not in the build (the oracle, until
// src/teachers/oracle.ts exists) gives a clear error instead of breaking the others.
// Contract for src/teachers/oracle.ts: export `createOracleTeacher(context: TeacherContext)`
// returning a Teacher (or a promise of one), or a class `OracleTeacher` constructed with it.
import { HaloError, UsageError } from '../cli/errors.js';
import type { Teacher } from './teacher.js';

/** What a factory gets: the command's parsed flags, the environment, and loggers (stderr). */
export interface TeacherContext {
  args: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** Prints only with --verbose. */
  log: (message: string) => void;
  warn: (message: string) => void;
}

export interface TeacherEntry {
  name: string;
  summary: string;
  create: (context: TeacherContext) => Promise<Teacher>;
}

async function loadOracle(context: TeacherContext): Promise<Teacher> {
  const specifier = './oracle.js'; // not a literal import: the module may not be in the build yet
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /oracle\.js/.test(err.message)) {
      throw new HaloError('the oracle teacher is not available in this build (src/teachers/oracle.ts is not there yet); use --teacher openai or --teacher csv');
    }
    throw e;
  }
  if (typeof mod.createOracleTeacher === 'function') {
    return (await (mod.createOracleTeacher as (c: TeacherContext) => Teacher | Promise<Teacher>)(context)) as Teacher;
  }
  if (typeof mod.OracleTeacher === 'function') {
    return new (mod.OracleTeacher as new (c: TeacherContext) => Teacher)(context);
  }
  throw new HaloError('src/teachers/oracle.ts exports neither createOracleTeacher nor OracleTeacher; the oracle teacher cannot be built');
}

export const TEACHERS: readonly TeacherEntry[] = [
  {
    name: 'oracle',
    summary: "the embedded shapes world's judge: scores from pixels and the parsed prompt (offline, deterministic)",
    create: loadOracle,
  },
  {
    name: 'openai',
    summary: 'a vision-language model behind an OpenAI-compatible chat-completions API (GPT-4o, vLLM, Ollama)',
    create: async (c) => {
      const { OpenAITeacher, openaiOptionsFromFlags } = await import('./openai.js');
      return new OpenAITeacher(openaiOptionsFromFlags(c.args, c.env, c.log));
    },
  },
  {
    name: 'csv',
    summary: 'human annotations from a CSV file (--csv), several annotators averaged',
    create: async (c) => {
      const { createCsvTeacher } = await import('./csv.js');
      return createCsvTeacher(c);
    },
  },
];

export const TEACHER_NAMES = TEACHERS.map((t) => t.name);

/** Build the teacher named `name`; a UsageError lists the known ones. */
export async function createTeacher(name: string, context: TeacherContext): Promise<Teacher> {
  const entry = TEACHERS.find((t) => t.name === name);
  if (!entry) throw new UsageError(`--teacher: unknown teacher '${name}' (known: ${TEACHER_NAMES.join(', ')})`);
  return entry.create(context);
}

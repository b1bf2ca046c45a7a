import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TEACHER_NAMES, createTeacher, type TeacherContext } from './registry.js';

const context = (args: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): TeacherContext => ({ args, env, log: () => {}, warn: () => {} });

test('the registry knows oracle, openai and csv', (t) => {
  t.deepEqual(TEACHER_NAMES, ['oracle', 'openai', 'csv']);
});

test('bad input: an unknown teacher is a usage error listing the known ones', async (t) => {
  const e = await t.throwsAsync(createTeacher('gpt5', context({})));
  t.regex(e!.message, /--teacher: unknown teacher 'gpt5' \(known: oracle, openai, csv\)/);
  t.is((e as { exitCode?: number }).exitCode, 2);
});

test('the openai factory builds a teacher from flags; without the key it refuses', async (t) => {
  const args = { model: 'm', 'timeout-ms': 1000, 'max-retries': 1, 'backoff-ms': 1, 'backoff-max-ms': 10, concurrency: 1, 'max-tokens': 100, temperature: 0, mode: 'grid', 'video-frames': 4, 'segment-frames': 2, 'image-size': 128, 'max-reasks': 1, detail: 'low', 'cache-dir': '/tmp/x' };
  const teacher = await createTeacher('openai', context(args, { OPENAI_API_KEY: 'k' }));
  t.is(teacher.name, 'openai');
  await t.throwsAsync(createTeacher('openai', context(args, {})), { message: /needs an API key in \$OPENAI_API_KEY/ });
  await t.throwsAsync(createTeacher('openai', context({ ...args, mode: 'cells' }, { OPENAI_API_KEY: 'k' })), { message: /--mode: expected one of grid, per-patch/ });
});

test('the oracle is built when src/teachers/oracle.ts is in the build, else the error says it is not available', async (t) => {
  const built = existsSync(fileURLToPath(new URL('./oracle.js', import.meta.url)));
  if (built) {
    const teacher = await createTeacher('oracle', context({}));
    t.is(typeof teacher.label, 'function');
  } else {
    await t.throwsAsync(createTeacher('oracle', context({})), { message: /the oracle teacher is not available in this build/ });
  }
});

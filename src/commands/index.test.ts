// The command map, the bin/ shims, package.json "bin" and the README agree.
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { COMMANDS } from './index.js';
import { ROOT, runCli } from '../testing/cli.js';

test('every command has a shim and a package.json bin entry, and nothing else does', async (t) => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const names = COMMANDS.map((c) => `halo-${c.name}`).sort();
  const bins = Object.keys(pkg.bin).filter((b) => b !== 'halo').sort();
  t.deepEqual(bins, names);
  const shims = (await readdir(path.join(ROOT, 'bin'))).filter((f) => f.startsWith('halo-')).map((f) => f.replace(/\.js$/, '')).sort();
  t.deepEqual(shims, names);
  for (const c of COMMANDS) t.is(pkg.bin[`halo-${c.name}`], `bin/halo-${c.name}.js`);
  for (const c of COMMANDS) t.is((await c.load()).name, c.name, `the module of halo-${c.name} exports its spec`);
});

test('the README lists every command with its summary', async (t) => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  for (const c of COMMANDS) t.true(readme.includes(`halo-${c.name}`), `README lacks halo-${c.name}`);
});

test('bad input: an unknown flag is a usage error (exit 2)', async (t) => {
  for (const c of COMMANDS) {
    const r = await runCli(c.name, ['--no-such-flag']);
    t.is(r.exitCode, 2, `halo-${c.name}`);
    // yargs names the unknown flag, or first a missing required flag or subcommand: a usage error all the same
    t.regex(r.stderr, /no-such-flag|Unknown argument|Missing required argument|Not enough non-option arguments|subcommand/i);
  }
});

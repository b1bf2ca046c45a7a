// Entry point of every bin/halo-* shim: parses flags for one command (from the map in
// src/commands/index.ts), runs it, and turns errors into exit codes (0 ok, 1 data or runtime
// error, 2 usage). A closed stdout (`| head`) ends the command quietly with exit 0.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { COMMANDS } from '../commands/index.js';
import type { CommandSpec } from './command.js';
import { HaloError, UsageError } from './errors.js';

function quietOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

function fail(prog: string, e: unknown): never {
  if (e instanceof HaloError) {
    process.stderr.write(`${prog}: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`${prog}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
}

/** yargs drops a lone '-' among positionals: it travels as this token and is turned back. */
const STDIN_TOKEN = '\u0000stdin';

/** Turn the stdin token back into '-'; a number or boolean flag given twice keeps its last value. */
function normalize(args: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(args)) {
    if (v === STDIN_TOKEN) args[k] = '-';
    else if (Array.isArray(v)) {
      const scalar = v.length > 0 && v.every((x) => typeof x === 'number' || typeof x === 'boolean');
      args[k] = scalar && k !== '_' ? v[v.length - 1] : v.map((x) => (x === STDIN_TOKEN ? '-' : x));
    }
  }
}

/** The command's entry in the map and its loaded module. */
async function load(name: string): Promise<{ summary: string; spec: CommandSpec }> {
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) throw new UsageError(`unknown command '${name}'`);
  return { summary: entry.summary, spec: await entry.load() };
}

/** Build the yargs parser for one command. */
export async function parserFor(name: string, argv: string[]): Promise<Argv> {
  const { summary, spec } = await load(name);
  const prog = `halo-${name}`;
  const base = yargs(argv.map((a) => (a === '-' ? STDIN_TOKEN : a)))
    .scriptName(prog)
    .middleware((args) => normalize(args as Record<string, unknown>), true);
  // A command with `run` is yargs' default command, so that its positionals are declared;
  // a command of subcommands declares them in `build`.
  const withSpec = spec.run
    ? base.command(`$0 ${spec.positionals ?? '[inputs..]'}`, summary, (y) => spec.build(y))
    : spec.build(base.usage(`${prog}: ${summary}`));
  return withSpec
    .strict()
    .help()
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    });
}

/** Run command `name` with the process arguments. */
export async function main(name: string): Promise<void> {
  quietOnClosedStdout();
  const prog = `halo-${name}`;
  try {
    const { spec } = await load(name);
    const args = (await (await parserFor(name, hideBin(process.argv))).parseAsync()) as Record<string, unknown>;
    if (args.help) return;
    // A subcommand's handler runs inside yargs; a command without subcommands runs here.
    if (spec.run) await spec.run(args);
  } catch (e) {
    fail(prog, e);
  }
}

/** `halo`: lists the commands (the same map the shims dispatch from), or runs `halo NAME ...`. */
export async function umbrella(): Promise<void> {
  const [first, ...rest] = hideBin(process.argv);
  const spec = COMMANDS.find((c) => c.name === first);
  if (spec) {
    process.argv = [process.argv[0]!, `halo-${first}`, ...rest];
    return main(spec.name);
  }
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 6;
  const lines = COMMANDS.map((c) => `  ${`halo-${c.name}`.padEnd(width)}${c.summary}`);
  const text = `halo: HALO post-training toolkit (video- and patch-level rewards, Gran-DPO)\n\ncommands:\n${lines.join('\n')}\n\nRun 'halo-NAME --help' (or 'halo NAME --help') for a command's flags.\n`;
  if (first && first !== '--help' && first !== '-h') {
    process.stderr.write(`halo: unknown command '${first}'\n\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
}

// The shape of a command module: one file per command in src/commands/, each exporting a
// CommandSpec. src/commands/index.ts maps names to specs; help text and dispatch come from it.
import type { Argv } from 'yargs';

export interface CommandSpec {
  /** The name after `halo-`, e.g. 'world' for halo-world (its summary is in src/commands/index.ts). */
  name: string;
  /**
   * Positional arguments of a command with `run`, in yargs syntax (default '[inputs..]': record
   * or media files, stdin when none). Describe them with `.positional()` in `build`.
   */
  positionals?: string;
  /** Declares flags, positional arguments and subcommands (yargs builder). */
  build: (y: Argv) => Argv;
  /**
   * Runs the command with parsed arguments; throws HaloError/UsageError on failure.
   * Commands made of subcommands (`halo-world prompts|render`) leave it out and attach the
   * subcommands' handlers in `build` instead.
   */
  run?: (args: Record<string, unknown>) => Promise<void>;
}

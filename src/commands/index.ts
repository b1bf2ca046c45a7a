// The command map: every halo-* command, in pipeline order. bin/ shims, `halo --help` and the
// README's command list all come from here (a test checks that they agree).
import type { CommandSpec } from '../cli/command.js';
import { labelCommand } from './label.js';
import { pairsCommand } from './pairs.js';
import { dpoCommand } from './dpo.js';
import { evalCommand } from './eval.js';
import { reportCommand } from './report.js';
import { scoreCommand } from './score.js';
import { pretrainCommand } from './pretrain.js';
import { sampleCommand } from './sample.js';
import { patchifyCommand } from './patchify.js';
import { worldCommand } from './world.js';

export const COMMANDS: CommandSpec[] = [
  worldCommand,
  pretrainCommand,
  sampleCommand,
  patchifyCommand,
  labelCommand,
  scoreCommand,
  pairsCommand,
  dpoCommand,
  evalCommand,
  reportCommand,
];

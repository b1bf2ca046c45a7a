// The command map: every halo-* command, in pipeline order, with its one-line summary. bin/ shims,
// `halo --help`, each command's usage line and the README's command list all come from here (a test
// checks that they agree). A command's module is imported only when that command runs, so a command
// does not pay for the others' heavy dependencies (onnxruntime-node, sharp, the OpenAI client).
import type { CommandSpec } from '../cli/command.js';

export interface CommandEntry {
  /** The name after `halo-`, e.g. 'world' for halo-world. */
  name: string;
  /** One line for `halo --help`, the command's usage and the README. */
  summary: string;
  load: () => Promise<CommandSpec>;
}

export const COMMANDS: CommandEntry[] = [
  { name: 'world', summary: 'the embedded shapes world: prompts from its grammar, ground-truth videos', load: async () => (await import('./world.js')).worldCommand },
  { name: 'pretrain', summary: 'pretrain the built-in text-to-video model on the shapes world (checkpoints, resume, JSONL log)', load: async () => (await import('./pretrain.js')).pretrainCommand },
  { name: 'sample', summary: 'generate videos for prompt records with a text-to-video model (one per prompt and seed)', load: async () => (await import('./sample.js')).sampleCommand },
  { name: 'patchify', summary: 'cut videos into a grid of spatiotemporal patches; write patch storyboards and geometry', load: async () => (await import('./patchify.js')).patchifyCommand },
  { name: 'label', summary: 'label videos and patches with a teacher (world oracle, OpenAI-compatible VLM, CSV of human ratings); `agree` compares two label/score files', load: async () => (await import('./label.js')).labelCommand },
  { name: 'score', summary: 'score videos with a reward model (video + per-patch scores per aspect; --overlay boxes low patches); `fit` trains the built-in one', load: async () => (await import('./score.js')).scoreCommand },
  { name: 'pairs', summary: 'build preference pairs (video winner/loser + per-patch preferences) from scores or labels', load: async () => (await import('./pairs.js')).pairsCommand },
  { name: 'dpo', summary: 'Gran-DPO: post-train a generator on preference pairs with video and patch terms; writes a model folder', load: async () => (await import('./dpo.js')).dpoCommand },
  { name: 'eval', summary: 'compare generators on held-out prompts: oracle defect rate, video scores, win rate, reward-model agreement', load: async () => (await import('./eval.js')).evalCommand },
  { name: 'report', summary: 'write the HTML report of a halo-eval run: table, training curves, base vs HALO videos with defects boxed', load: async () => (await import('./report.js')).reportCommand },
];

// The Gran-DPO step with LoRA: only the adapters train, the policy runs on the reference's frozen
// weights, and the backward pass computes no weight gradient for a frozen parameter (and none at all
// for the text encoder, which lies upstream of every default adapter).
import test from 'ava';
import type { Node } from '../graph/ir.js';
import type { TrainStep } from '../graph/train-step.js';
import { t2vLinearLayers } from '../models/t2v.js';
import { tinyT2V } from '../testing/tiny-t2v.js';
import { DEFAULT_LORA_TARGETS, POLICY, REF, buildDpoStep, builtinNetwork, type DpoGraphOptions } from './dpo-graph.js';

const { config } = tinyT2V();
const common: DpoGraphOptions = {
  net: builtinNetwork(config),
  pairs: 1,
  boxes: [[0, 4, 0, 16, 0, 8], [0, 4, 0, 16, 8, 16]],
  dpo: { beta: 100, lambda: 1, mode: 'gran' },
  optimizer: { type: 'adamw' },
};

const gradNodes = (s: TrainStep) => s.graph.nodes.filter((n) => n.name.startsWith('grad/'));
/** Weight gradients of linear layers: the MatMul rule's Aᵀ·dY Gemm (transA). */
const weightGrads = (nodes: Node[]) => nodes.filter((n) => n.op === 'Gemm' && n.attrs.transA?.value === 1);
const readsText = (nodes: Node[], prefix: string) => nodes.some((n) => n.inputs.some((i) => i.startsWith(`${prefix}text.`)));

test('LoRA DPO step: only the adapters train, on the reference weights, with no gradient work for frozen weights', (t) => {
  const full = buildDpoStep(common);
  const lora = buildDpoStep({ ...common, lora: { rank: 2, alpha: 4, targets: new RegExp(DEFAULT_LORA_TARGETS) } });
  const layers = [0, 1].flatMap((b) => ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'].map((l) => `den.block${b}.${l}`));
  const trainable = lora.io.params.filter((p) => p.trainable);
  t.deepEqual(trainable.map((p) => p.name).sort(), layers.flatMap((l) => [`${POLICY}${l}.lora_a`, `${POLICY}${l}.lora_b`]).sort());
  t.deepEqual(
    lora.io.params.filter((p) => !p.trainable).map((p) => p.name),
    full.io.params.filter((p) => p.name.startsWith(REF)).map((p) => p.name),
    "the frozen parameters are the reference's, shared by the policy",
  );
  t.deepEqual(lora.io.state.map((s) => s.param).filter((p, i, a) => a.indexOf(p) === i).sort(), trainable.map((p) => p.name).sort(), 'optimizer state for adapters only');

  t.is(weightGrads(gradNodes(full)).length, t2vLinearLayers(config).length, 'the full step computes a gradient for every linear weight');
  t.is(weightGrads(gradNodes(lora)).length, trainable.length, 'the LoRA step for the adapters only');
  t.true(readsText(gradNodes(full), POLICY));
  t.false(readsText(gradNodes(lora), REF), 'no backward through the text encoder');
  t.true(gradNodes(lora).length < gradNodes(full).length, `${gradNodes(lora).length} vs ${gradNodes(full).length} gradient nodes`);
});

// The Gran-DPO training-step graph. A batch of P pairs is stacked as 2P rows (winners, then losers)
// that share, pair by pair, one timestep and one noise. The trainable policy (`policy.*`) and the
// frozen reference (`ref.*`, the same network) both predict for all rows; each row's per-patch error
// is the model's training loss restricted to the patch: w · mean over the patch's values of
// (prediction − target)², where the batch holds the target and w of the model's parameterisation
// (dpo-data.ts: x0 with w(t) = min(SNR + 1, 5) for x0-prediction, ε or v with w = 1). The patch
// means come from one matrix product with a fixed pooling matrix (pixels → patches), so any patch
// geometry works. Then granDpoLoss (src/halo/grandpo.ts). With LoRA the policy is the reference's
// frozen weights plus adapters `policy.<layer>.lora_a/b` (src/graph/lora.ts), the only trainable
// parameters. In: the network (a DpoNetwork: builtinNetwork(config), or a model folder via dpo-model.ts), P, the patch
// boxes, the DPO (and LoRA) settings. Out: a TrainStep for the runtime Trainer.
import { GraphBuilder } from '../graph/builder.js';
import type { Value } from '../graph/ir.js';
import { tensor } from '../graph/tensor.js';
import { buildTrainStep, type TensorSpec, type TrainStep } from '../graph/train-step.js';
import type { OptimizerConfig } from '../graph/optim.js';
import { withLora, type LoraConfig } from '../graph/lora.js';
import { buildT2V, type T2VConfig } from '../models/t2v.js';
import { DPO_METRICS, granDpoLoss, type GranDpoConfig } from './grandpo.js';

export type Box = readonly [number, number, number, number, number, number];

export const POLICY = 'policy.';
export const REF = 'ref.';

/** The layers halo-dpo adapts by default: the denoiser blocks' attention (fused q/k/v, output) and MLP linears. */
export const DEFAULT_LORA_TARGETS = String.raw`^den\.block\d+\.(attn\.(qkv|proj)|mlp\.fc[12])$`;

/** [T·H·W, n] matrix: column p averages the pixels of patch p (1 / box volume inside the box). */
export function poolingMatrix(video: readonly [number, number, number], boxes: readonly Box[]): Float32Array {
  const [T, H, W] = video;
  const n = boxes.length;
  const m = new Float32Array(T * H * W * n);
  boxes.forEach(([t0, t1, y0, y1, x0, x1], p) => {
    const vol = (t1 - t0) * (y1 - y0) * (x1 - x0);
    for (let t = t0; t < t1; t++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[((t * H + y) * W + x) * n + p] = 1 / vol;
  });
  return m;
}

/** The sizes a step's batch needs: the video (frames × height × width, 3 channels) and the token count. */
export interface DpoShape {
  video: { frames: number; height: number; width: number };
  text: { length: number };
}

export interface DpoInputs {
  x: Value;
  t: Value;
  ids: Value;
}

/** A generator as the step uses it: its sizes, and its network's prediction with parameters named `prefix + <bare name>`. */
export interface DpoNetwork extends DpoShape {
  build(g: GraphBuilder, prefix: string, inputs: DpoInputs): Value;
}

/** The built-in networks of a config (buildT2V: `text.*`, `den.*`). */
export function builtinNetwork(c: T2VConfig): DpoNetwork {
  return { video: c.video, text: c.text, build: (g, prefix, inputs) => buildT2V(g, prefix, inputs, c) };
}

export interface DpoGraphOptions {
  /** The generator (builtinNetwork(config) for a built-in one; dpo-model.ts for a model folder). */
  net: DpoNetwork;
  pairs: number;
  boxes: readonly Box[];
  dpo: GranDpoConfig;
  optimizer: OptimizerConfig;
  clipNorm?: number;
  accum?: number;
  /** Which policy parameters train (names without the `policy.` prefix); default all. */
  trainable?: (name: string) => boolean;
  /** Train LoRA adapters on these layers of the reference's frozen weights instead of a policy copy. */
  lora?: LoraConfig;
}

/** The batch inputs of one step. */
export function dpoBatchSpec(c: DpoShape, pairs: number, n: number): Record<string, TensorSpec> {
  const rows = 2 * pairs;
  const v = [3, c.video.frames, c.video.height, c.video.width];
  return {
    xt: { dtype: 'float32', shape: [rows, ...v] },
    t: { dtype: 'float32', shape: [rows] },
    ids: { dtype: 'int64', shape: [rows, c.text.length] },
    target: { dtype: 'float32', shape: [rows, ...v] },
    w: { dtype: 'float32', shape: [rows] },
    pref: { dtype: 'float32', shape: [pairs, n] },
    weight: { dtype: 'float32', shape: [pairs, n] },
  };
}

/** Per-row, per-patch weighted errors [rows, n] of the prediction against its target. */
function patchErrors(g: GraphBuilder, pred: Value, target: Value, w: Value, pool: Value): Value {
  const [rows, C, T, H, W] = pred.shape as number[];
  const d = g.sub(pred, target);
  const sq = g.reduceMean(g.mul(d, d), [1], false); // mean over channels: [rows, T, H, W]
  const flat = g.reshape(sq, [rows!, T! * H! * W!]);
  void C;
  return g.mul(g.matmul(flat, pool), g.unsqueeze(w, [1])); // [rows, n]
}

export function buildDpoStep(o: DpoGraphOptions): TrainStep {
  const { pairs: P, net } = o;
  const n = o.boxes.length;
  const { frames: T, height: H, width: W } = net.video;
  const pool = poolingMatrix([T, H, W], o.boxes);
  return buildTrainStep({
    name: 'gran_dpo_step',
    batch: dpoBatchSpec(net, P, n),
    build: (g, b) => {
      const poolV = g.const(tensor('float32', [T * H * W, n], pool), 'patch_pool');
      const inputs = { x: b.xt!, t: b.t!, ids: b.ids! };
      const policy = o.lora
        ? withLora(g, o.lora, { prefix: REF, adapters: POLICY }, () => net.build(g, REF, inputs))
        : net.build(g, POLICY, inputs);
      const pol = patchErrors(g, policy, b.target!, b.w!, poolV);
      const ref = patchErrors(g, net.build(g, REF, inputs), b.target!, b.w!, poolV);
      const half = (v: Value, i: 0 | 1) => g.slice(v, [i * P, 0], [(i + 1) * P, n], [0, 1]);
      const { loss, metrics } = granDpoLoss(
        g,
        { policyWin: half(pol, 0), policyLose: half(pol, 1), refWin: half(ref, 0), refLose: half(ref, 1), pref: b.pref!, weight: b.weight! },
        o.dpo,
      );
      return { loss, metrics };
    },
    trainable: (name) => name.startsWith(POLICY) && (o.trainable ? o.trainable(name.slice(POLICY.length)) : true),
    optimizer: o.optimizer,
    noDecay: /\.bias$|norm|\.ln|embed|pos/,
    clipNorm: o.clipNorm,
    accum: o.accum ?? 1,
  });
}

export { DPO_METRICS };

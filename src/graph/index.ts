// Public API of the graph library: IR, builder, layers, autodiff, optimizers, train-step assembly and
// ONNX serialization. In: nothing. Out: re-exports (see docs/graph.md).
export * from './dtype.js';
export * from './tensor.js';
export * from './ir.js';
export { GraphBuilder, OPSET, type ConvOptions, type Operand } from './builder.js';
export { ShapeError, knownOps } from './infer.js';
export * as nn from './nn.js';
export { gradients, missingRules, pathNodes, GradError } from './autodiff.js';
export { GRAD_RULES, NON_DIFFERENTIABLE, unbroadcast, type GradRule, type GradContext } from './rules.js';
export * from './optim.js';
export * from './train-step.js';
export { bakeParams, paramsFromInitializers } from './bake.js';
export { initParam, initParams } from './init.js';
export { Rng } from './rng.js';
export { encodeModel, decodeModel, saveModel, loadModel, toModelProto, fromModelProto, type ImportReport } from './onnx.js';

// Public API of the runtime (the only module importing onnxruntime-node): sessions, the Trainer and
// its loop, schedules, checkpoints and safetensors. In: nothing. Out: re-exports (see docs/graph.md).
export { DEVICES, type Device, type SessionOptions, providerChain, parseDevice } from './ort.js';
export { Session, SessionCache } from './session.js';
export { Trainer, NonFiniteError, type StepResult, type TrainerOptions } from './trainer.js';
export { trainLoop, TrainingStopped, type LoopOptions } from './loop.js';
export * from './schedule.js';
export { saveCheckpoint, loadCheckpoint, contentHash, type Checkpoint } from './checkpoint.js';
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from './safetensors.js';
export { gradCheck, type GradCheckSpec, type GradCheckResult } from './gradcheck.js';

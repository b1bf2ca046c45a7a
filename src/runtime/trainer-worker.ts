// Worker-thread side of Trainer: owns a TrainerCore (and so the ORT session, whose run blocks its
// thread) and answers {id, cmd, args} messages from the main thread with {id, result} or {id, error}.

import { parentPort } from 'node:worker_threads';
import { NonFiniteError, TrainerCore } from './trainer-core.js';

if (!parentPort) throw new Error('trainer-worker.js must run in a worker thread');
const port = parentPort;
let core: TrainerCore | undefined;

type Msg = { id: number; cmd: string; args: any };

function need(): TrainerCore {
  if (!core) throw new Error('trainer not initialised');
  return core;
}

async function handle(m: Msg): Promise<unknown> {
  switch (m.cmd) {
    case 'init':
      core = await TrainerCore.create(m.args);
      return { provider: core.provider, step: core.step };
    case 'step':
      return need().run(m.args.batches, m.args.lr);
    case 'save':
      return need().save(m.args.file, m.args.extra);
    case 'load':
      return need().load(m.args.file);
    case 'getParams':
      return need().params;
    case 'getState':
      return { state: need().state, step: need().step };
    case 'setParams':
      need().setParams(m.args.values);
      return null;
    case 'resetState':
      need().resetState();
      return null;
    default:
      throw new Error(`unknown trainer command '${m.cmd}'`);
  }
}

// one message at a time, in order
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: Msg) => {
  chain = chain.then(async () => {
    try {
      port.postMessage({ id: m.id, result: await handle(m) });
    } catch (e) {
      const err = e as Error;
      port.postMessage({ id: m.id, error: { name: err.name, message: err.message, step: e instanceof NonFiniteError ? e.step : undefined, nonFinite: e instanceof NonFiniteError } });
    }
  });
});

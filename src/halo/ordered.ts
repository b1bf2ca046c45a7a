// Bounded, order-keeping concurrency for record streams: orderedMap(items, jobs, fn) runs fn on
// up to `jobs` items at once and yields the results in input order. It pulls items only as
// slots free up, so memory stays flat however long the input is (at most 2·jobs results wait).
// When fn fails, the items already running finish first (so none leaves a half-written file),
// and results before the failed item are still yielded; an error reading the input is thrown
// after the results of the items read before it.

export async function* orderedMap<T, R>(items: AsyncIterable<T>, jobs: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const limit = Math.max(1, Math.floor(jobs));
  const window = 2 * limit;
  const it = items[Symbol.asyncIterator]();
  const queue: Promise<R>[] = [];
  let running = 0;
  let exhausted = false;
  let stopped = false;
  let pumping = false;
  let inputError: unknown;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };

  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (!exhausted && !stopped && running < limit && queue.length < window) {
        let n: IteratorResult<T>;
        try {
          n = await it.next();
        } catch (e) {
          inputError = e;
          exhausted = true;
          break;
        }
        if (n.done) {
          exhausted = true;
          break;
        }
        running++;
        const p = fn(n.value).finally(() => {
          running--;
          void pump();
        });
        p.catch(() => {}); // observed when it reaches the head of the queue
        queue.push(p);
        wake();
      }
    } finally {
      pumping = false;
      wake();
    }
  };

  void pump();
  try {
    for (;;) {
      while (queue.length === 0 && !(exhausted && !pumping)) await new Promise<void>((r) => (waiter = r));
      const head = queue.shift();
      if (!head) {
        if (inputError !== undefined) throw inputError;
        return;
      }
      void pump();
      yield await head;
    }
  } finally {
    stopped = true;
    await Promise.allSettled(queue);
    while (running > 0 || pumping) await new Promise((r) => setTimeout(r, 5));
    if (!exhausted) await it.return?.(undefined);
  }
}

export type LockMode = 'shared' | 'exclusive';

interface LockWaiter {
  mode: LockMode;
  granted: boolean;
  grant: () => void;
}

/**
 * Reader-writer locks by key (a network name, a parent interface) inside this agent. Creates hold their networks and
 * parents `shared`, so any number of them run side by side; what removes or moves a network holds it `exclusive`, so
 * a runtime being deleted never removes a network another runtime is about to attach to
 * (docs/performance.md#creates-on-one-parent-run-side-by-side). Waiters are served in arrival order: a delete waits
 * for the creates before it, and the creates after it wait for the delete.
 */
export class KeyedLock {
  private readonly queues = new Map<string, LockWaiter[]>();

  /** Runs `work` holding every key in its mode; a key named in both modes is held exclusive. */
  async with<T>(keys: ReadonlyArray<{ key: string; mode: LockMode }>, work: () => Promise<T>): Promise<T> {
    const modes = new Map<string, LockMode>();
    for (const { key, mode } of keys) if (modes.get(key) !== 'exclusive') modes.set(key, mode);
    // Taken one after another in sorted order, so two holders of overlapping sets cannot deadlock.
    const held: Array<{ key: string; waiter: LockWaiter }> = [];
    try {
      for (const key of [...modes.keys()].sort()) {
        const waiter = await this.acquire(key, modes.get(key) as LockMode);
        held.push({ key, waiter });
      }
      return await work();
    } finally {
      for (const { key, waiter } of held.reverse()) this.release(key, waiter);
    }
  }

  exclusive<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    return this.with(
      keys.map((key) => ({ key, mode: 'exclusive' as const })),
      work,
    );
  }

  private acquire(key: string, mode: LockMode): Promise<LockWaiter> {
    return new Promise((resolve) => {
      const queue = this.queues.get(key) ?? [];
      this.queues.set(key, queue);
      const waiter: LockWaiter = { mode, granted: false, grant: () => resolve(waiter) };
      queue.push(waiter);
      this.serve(queue);
    });
  }

  private release(key: string, waiter: LockWaiter): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    const at = queue.indexOf(waiter);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.queues.delete(key);
    else this.serve(queue);
  }

  /** Grants from the front: one exclusive alone, or every shared waiter up to the first exclusive one. */
  private serve(queue: LockWaiter[]): void {
    for (const [i, waiter] of queue.entries()) {
      if (waiter.mode === 'exclusive') {
        if (i === 0 && !waiter.granted) {
          waiter.granted = true;
          waiter.grant();
        }
        return;
      }
      if (!waiter.granted) {
        waiter.granted = true;
        waiter.grant();
      }
    }
  }
}

/**
 * Collects what arrives during one tick (the current task and its microtasks) and hands it over together at the
 * end of it: one event to an actor instead of one per item.
 */
export class TickBatch<T> {
  private items: T[] = [];
  private queued = false;

  constructor(private readonly deliver: (items: T[]) => void) {}

  add(item: T): void {
    this.items.push(item);
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => this.flush());
  }

  /** Hands over what was collected now (when something must not wait for the end of the tick). */
  flush(): void {
    this.queued = false;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.deliver(items);
  }
}

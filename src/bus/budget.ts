/**
 * A count of delivery slots shared by job consumers. A worker serving several pools gives every consumer the
 * same budget (its free threads), so together they never hold more unsettled jobs than it can run.
 *
 * A delivery holds one unit from the moment it is handed out until it is settled (ack, nak, term) or its
 * lease expires. Adapters that pull from a server reserve units before they pull, so a pull never asks for
 * more than is free.
 */
export class DeliveryBudget {
  private used = 0;
  private members = 0;
  private readonly listeners = new Set<() => void>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a delivery budget needs a positive integer limit, got ${limit}`);
  }

  /** Units not held by any delivery or pull. */
  get free(): number {
    return this.limit - this.used;
  }

  /** Grants up to `max` units (fewer when fewer are free); returns how many were granted. */
  take(max: number): number {
    const granted = Math.max(0, Math.min(Math.floor(max), this.free));
    this.used += granted;
    return granted;
  }

  /** Gives units back and tells every listener that capacity is free. */
  release(n = 1): void {
    if (n <= 0) return;
    if (n > this.used) throw new RangeError(`released ${n} units but only ${this.used} are held`);
    this.used -= n;
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` (synchronously) after every release; returns the unsubscribe. */
  onRelease(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Registers a consumer drawing on this budget; returns its leave function. The count only shapes
   * {@link fairShare}, so one consumer of an idle pool cannot park every free unit in a waiting pull.
   */
  join(): () => void {
    this.members++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.members--;
    };
  }

  /**
   * The most one consumer should reserve in waiting pulls: a share of the limit that also leaves a share
   * for a consumer yet to join (a pool discovered later), since a waiting pull cannot be withdrawn before it
   * expires. A pull ends as soon as it is filled, so a busy consumer goes on pulling as units come back.
   */
  fairShare(): number {
    return Math.max(1, Math.ceil(this.limit / (this.members + 1)));
  }
}

/** The budget a job consumer draws on: the shared one it was given, or one of its own. */
export function budgetFor(options: { maxInFlight: number } | { budget: DeliveryBudget }): DeliveryBudget {
  return 'budget' in options ? options.budget : new DeliveryBudget(options.maxInFlight);
}

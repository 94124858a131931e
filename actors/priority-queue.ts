import { PRIORITIES, priorityRank, type Priority } from '../src/core/statuses.js';

export interface QueueEntry {
  executionId: string;
  priority: Priority;
  owner: string;
  runId: string | null;
  enqueuedAt: number;
}

interface Lane {
  owner: string;
  runId: string | null;
  priority: Priority;
  items: QueueEntry[];
  head: number;
}

const DEFERRED_RANK = priorityRank('DEFERRED');

/**
 * The waiting line. Entries of one priority, owner and run form a FIFO lane, so a pick looks only at lane
 * heads. Waiting raises effective priority one level per `agingMs` (never above CRITICAL), so nothing
 * starves; DEFERRED neither ages nor runs while any other eligible work waits.
 */
export class PriorityQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly queued = new Map<string, QueueEntry>();
  private readonly ownerCounts = new Map<string, number>();
  private readonly priorityCounts = new Map<Priority, number>();

  constructor(private readonly agingMs: number) {}

  get size(): number {
    return this.queued.size;
  }

  has(executionId: string): boolean {
    return this.queued.has(executionId);
  }

  /** Owners with at least one entry waiting. */
  owners(): IterableIterator<string> {
    return this.ownerCounts.keys();
  }

  hasOwner(owner: string): boolean {
    return this.ownerCounts.has(owner);
  }

  depthByPriority(): Record<Priority, number> {
    const depth = {} as Record<Priority, number>;
    for (const p of PRIORITIES) depth[p] = this.priorityCounts.get(p) ?? 0;
    return depth;
  }

  add(entry: QueueEntry): void {
    if (this.queued.has(entry.executionId)) return;
    const key = `${entry.priority}|${entry.owner}|${entry.runId ?? ''}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { owner: entry.owner, runId: entry.runId, priority: entry.priority, items: [], head: 0 };
      this.lanes.set(key, lane);
    }
    lane.items.push(entry);
    this.queued.set(entry.executionId, entry);
    this.count(entry, 1);
  }

  remove(executionId: string): boolean {
    const entry = this.queued.get(executionId);
    if (!entry) return false;
    this.queued.delete(executionId);
    this.count(entry, -1);
    return true;
  }

  /** Effective rank of an entry at `now` (0 = CRITICAL). */
  effectiveRank(entry: QueueEntry, now: number): number {
    const rank = priorityRank(entry.priority);
    if (rank === DEFERRED_RANK) return rank;
    return Math.max(0, rank - Math.floor(Math.max(0, now - entry.enqueuedAt) / this.agingMs));
  }

  /**
   * Removes and returns the entry to start next among lanes whose owner and run `eligible` accepts, or null.
   */
  pick(now: number, eligible: (owner: string, runId: string | null) => boolean): QueueEntry | null {
    let best: { lane: Lane; entry: QueueEntry; rank: number } | null = null;
    for (const [key, lane] of this.lanes) {
      const entry = this.headOf(lane);
      if (!entry) {
        this.lanes.delete(key);
        continue;
      }
      if (!eligible(lane.owner, lane.runId)) continue;
      const rank = this.effectiveRank(entry, now);
      if (!best || rank < best.rank || (rank === best.rank && entry.enqueuedAt < best.entry.enqueuedAt)) {
        best = { lane, entry, rank };
      }
    }
    if (!best) return null;
    best.lane.head++;
    this.compact(best.lane);
    this.queued.delete(best.entry.executionId);
    this.count(best.entry, -1);
    return best.entry;
  }

  private headOf(lane: Lane): QueueEntry | undefined {
    while (lane.head < lane.items.length) {
      const entry = lane.items[lane.head] as QueueEntry;
      if (this.queued.get(entry.executionId) === entry) return entry;
      lane.head++;
    }
    lane.items = [];
    lane.head = 0;
    return undefined;
  }

  private compact(lane: Lane): void {
    if (lane.head > 1024 && lane.head * 2 > lane.items.length) {
      lane.items = lane.items.slice(lane.head);
      lane.head = 0;
    }
  }

  private count(entry: QueueEntry, by: number): void {
    const o = (this.ownerCounts.get(entry.owner) ?? 0) + by;
    if (o <= 0) this.ownerCounts.delete(entry.owner);
    else this.ownerCounts.set(entry.owner, o);
    this.priorityCounts.set(entry.priority, (this.priorityCounts.get(entry.priority) ?? 0) + by);
  }
}

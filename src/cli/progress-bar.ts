import type { TransitionEvent } from '../bus/bus.port.js';
import { isTerminal } from '../core/statuses.js';

const WIDTH = 24;
/** Back to the start of the line and clear it, so a shorter line leaves nothing of the longer one behind. */
const CLEAR = '\r\x1b[2K';
const SKIPS = new Set(['SKIPPED', 'CANCELLED']);

/**
 * The terminal form: one line redrawn in place with `\r` — a bar, done/total, and the counts of passed, failed,
 * skipped and retried executions. A test that does not pass gets a line of its own above the bar, so what went
 * wrong stays on screen.
 */
export class BarProgress {
  private done = 0;
  private passed = 0;
  private failed = 0;
  private skipped = 0;
  private retries = 0;
  private drawn = '';
  private stopped = false;
  private drawnAt = Number.NEGATIVE_INFINITY;
  /** A redraw held back by `redrawMs`, done when it is up. */
  private held: NodeJS.Timeout | null = null;

  constructor(
    private readonly total: number,
    private readonly names: Map<string, string>,
    private readonly write: (text: string) => void,
    private readonly redrawMs: number,
  ) {
    this.draw(true);
  }

  /** The bar's line as it stands. */
  line(): string {
    const filled = this.total === 0 ? WIDTH : Math.round((this.done / this.total) * WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
    return `  ${bar} ${this.done}/${this.total}  ✓ ${this.passed}  ✗ ${this.failed}  - ${this.skipped}  ↻ ${this.retries}`;
  }

  onTransition(event: TransitionEvent): void {
    if (this.stopped) return;
    if (event.to === 'RETRYING') {
      this.retries++;
    } else if (isTerminal(event.to)) {
      this.done++;
      if (event.to === 'PASSED') this.passed++;
      else if (SKIPS.has(event.to)) this.skipped++;
      else {
        this.failed++;
        const name = this.names.get(event.executionId) ?? event.executionId;
        this.print(`  ✗ ${name} ${event.to}${event.reason ? `: ${event.reason}` : ''}`);
        return;
      }
    } else {
      return;
    }
    this.draw();
  }

  print(line: string): void {
    if (this.stopped) {
      this.write(`${line}\n`);
      return;
    }
    this.write(`${CLEAR}${line}\n`);
    this.drawn = '';
    this.draw(true);
  }

  /** Redraws the bar, at most once per `redrawMs` unless `now`; a held-back redraw follows when the time is up. */
  private draw(now = false): void {
    const since = performance.now() - this.drawnAt;
    if (!now && since < this.redrawMs) {
      this.held ??= setTimeout(() => {
        this.held = null;
        if (!this.stopped) this.draw(true);
      }, this.redrawMs - since).unref();
      return;
    }
    this.drawnAt = performance.now();
    const line = this.line();
    if (line === this.drawn) return;
    this.drawn = line;
    this.write(`${CLEAR}${line}`);
  }

  /** Leaves the last bar on screen and ends its line. */
  stop(): void {
    if (this.stopped) return;
    if (this.held) clearTimeout(this.held);
    this.draw(true);
    this.stopped = true;
    this.write('\n');
  }
}

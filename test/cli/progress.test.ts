import { describe, expect, it } from 'vitest';
import type { TransitionEvent } from '../../src/bus/bus.port.js';
import { createProgress, progressForm, type ProgressForm } from '../../src/cli/progress.js';
import { loadCliConfig } from '../../src/core/config.js';
import type { Status } from '../../src/core/statuses.js';

/** `troupe run` progress: a bar redrawn in place on a terminal, plain lines in CI logs (SPEC §8). */

let seq = 0;
const event = (executionId: string, from: Status, to: Status, reason: string | null = null, attempt = 1): TransitionEvent => ({
  type: 'transition',
  executionId,
  runId: 'run_1',
  seq: ++seq,
  from,
  to,
  event: to === 'RETRYING' ? 'FAIL' : 'PASS',
  at: 0,
  attempt,
  reason,
  actor: 'test',
});

const NAMES = new Map([
  ['e1', 'login'],
  ['e2', 'checkout'],
  ['e3', 'search'],
  ['e4', 'later'],
]);

/** Runs the same four executions through a progress form and returns everything it wrote. */
function record(form: ProgressForm): string {
  let written = '';
  const progress = createProgress({ form, total: 4, names: NAMES, write: (text) => (written += text), redrawMs: 0 });
  progress.onTransition(event('e1', 'PENDING', 'RUNNING'));
  progress.onTransition(event('e1', 'RUNNING', 'PASSED'));
  progress.onTransition(event('e2', 'RUNNING', 'RETRYING', 'expected status 200, got 500'));
  progress.onTransition(event('e2', 'RUNNING', 'PASSED', null, 2));
  progress.onTransition(event('e3', 'RUNNING', 'FAILED', 'step 0 (GET /): expected status 200, got 500'));
  progress.print('  ? a question for a person');
  progress.onTransition(event('e4', 'PENDING', 'CANCELLED', 'run cancelled'));
  progress.stop();
  return written;
}

describe('progress form', () => {
  it('is a bar only on an interactive terminal outside CI', () => {
    expect(progressForm({ isTTY: true }, false)).toBe('bar');
    expect(progressForm({ isTTY: true }, true)).toBe('lines');
    expect(progressForm({ isTTY: false }, false)).toBe('lines');
    expect(progressForm({}, false)).toBe('lines');
  });

  it('CI counts as set unless it is empty or says false', () => {
    expect(loadCliConfig({}).CI).toBe(false);
    expect(loadCliConfig({ CI: '' }).CI).toBe(false);
    expect(loadCliConfig({ CI: 'false' }).CI).toBe(false);
    expect(loadCliConfig({ CI: '0' }).CI).toBe(false);
    expect(loadCliConfig({ CI: 'true' }).CI).toBe(true);
    expect(loadCliConfig({ CI: '1' }).CI).toBe(true);
    expect(loadCliConfig({ CI: 'woodpecker' }).CI).toBe(true);
    expect(progressForm({ isTTY: true }, loadCliConfig({ CI: 'true' }).CI)).toBe('lines');
  });
});

describe('plain lines (CI logs)', () => {
  it('writes one whole line per finished execution and retry, no carriage return or escape code', () => {
    const out = record('lines');
    expect(out).not.toContain('\r');
    expect(out).not.toContain('\x1b');
    expect(out.endsWith('\n')).toBe(true);
    expect(out.split('\n').slice(0, -1)).toEqual([
      '  ✓ login PASSED',
      '  ↻ checkout attempt 1 FAIL: expected status 200, got 500',
      '  ✓ checkout PASSED',
      '  ✗ search FAILED: step 0 (GET /): expected status 200, got 500',
      '  ? a question for a person',
      '  - later CANCELLED: run cancelled',
    ]);
  });
});

describe('progress bar (terminal)', () => {
  it('redraws one line with \\r: done/total, the counts and a bar that fills', () => {
    const out = record('bar');
    // Every redraw returns to the start of the line and clears it; the last one is finished with a newline.
    const frames = out.split('\r\x1b[2K').filter(Boolean);
    const bars = frames.filter((f) => f.startsWith('  █') || f.startsWith('  ░'));
    expect(bars[0]).toBe(`  ${'░'.repeat(24)} 0/4  ✓ 0  ✗ 0  - 0  ↻ 0`);
    expect(bars).toContain(`  ${'█'.repeat(6)}${'░'.repeat(18)} 1/4  ✓ 1  ✗ 0  - 0  ↻ 0`);
    expect(bars).toContain(`  ${'█'.repeat(6)}${'░'.repeat(18)} 1/4  ✓ 1  ✗ 0  - 0  ↻ 1`);
    expect(bars.at(-1)).toBe(`  ${'█'.repeat(24)} 4/4  ✓ 2  ✗ 1  - 1  ↻ 1\n`);
    // Bar frames never end a line except the last: the terminal shows one line, redrawn.
    expect(bars.slice(0, -1).every((f) => !f.includes('\n'))).toBe(true);
    // A test that did not pass, and a printed line, get lines of their own above the bar.
    expect(frames).toContain('  ✗ search FAILED: step 0 (GET /): expected status 200, got 500\n');
    expect(frames).toContain('  ? a question for a person\n');
    expect(out).not.toContain('login PASSED');
  });

  it('after stop, nothing redraws; a printed line is a plain line', () => {
    let written = '';
    const progress = createProgress({ form: 'bar', total: 1, names: NAMES, write: (text) => (written += text), redrawMs: 0 });
    progress.stop();
    const stopped = written;
    progress.onTransition(event('e1', 'RUNNING', 'PASSED'));
    progress.print('done');
    expect(written).toBe(`${stopped}done\n`);
  });

  it('redraws at most once per redrawMs however fast executions end, and shows the last counts when it stops', () => {
    let written = '';
    const names = new Map(Array.from({ length: 1000 }, (_, i) => [`e${i}`, `test ${i}`]));
    const progress = createProgress({ form: 'bar', total: 1000, names, write: (text) => (written += text), redrawMs: 60_000 });
    for (let i = 0; i < 1000; i++) progress.onTransition(event(`e${i}`, 'RUNNING', 'PASSED'));
    progress.stop();
    const frames = written.split('\r\x1b[2K').filter(Boolean);
    expect(frames).toEqual([`  ${'░'.repeat(24)} 0/1000  ✓ 0  ✗ 0  - 0  ↻ 0`, `  ${'█'.repeat(24)} 1000/1000  ✓ 1000  ✗ 0  - 0  ↻ 0\n`]);
  });
});

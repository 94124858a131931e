// A tiny suite for Node's built-in test runner, run by examples/exec/exec.run.json inside an `exec` step.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

describe('arithmetic', () => {
  it('adds', () => {
    assert.equal(1 + 2, 3);
  });

  it('multiplies', () => {
    assert.equal(2 * 3, 6);
  });

  it('is skipped when asked', { skip: 'shows up as SKIPPED' }, () => {});
});

it('a top-level test', () => {
  assert.ok(true);
});

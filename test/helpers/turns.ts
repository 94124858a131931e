/**
 * Counts turns of the event loop until stopped: a loop blocked by synchronous work (a commit on the engine's own
 * thread, say) turns once in that time, a free one thousands of times.
 */
export function countTurns(): { readonly count: number; stop(): void } {
  let count = 0;
  let spinning = true;
  const spin = () => {
    count++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  return {
    get count() {
      return count;
    },
    stop() {
      spinning = false;
    },
  };
}

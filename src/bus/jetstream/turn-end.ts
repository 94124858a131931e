/**
 * Runs sends at the end of the current event-loop turn (`setImmediate`), all of them together. nats.js writes
 * what is published in one synchronous stretch in one socket write; deferring the sends of a turn there
 * makes one write of what the turn produced — a worker finishes jobs one message from its pool thread at a
 * time, each in its own macrotask, and would otherwise write each result and each ack on its own. The cost is
 * the rest of the turn, well under a millisecond unless the turn itself is long.
 */
let queue: (() => void)[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const sends = queue;
  queue = [];
  for (const send of sends) {
    try {
      send();
    } catch {
      // each send handles its own failures; one must not stop the others
    }
  }
}

export function atTurnEnd(send: () => void): void {
  queue.push(send);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

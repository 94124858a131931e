/**
 * The writer thread's entry: owns the store's write connection. Requests that arrive while a commit is in
 * flight queue up on the port and are committed together next (group commit).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { WriteOp, WriterConfig, WriterReply, WriterRequest } from './ops.js';
import { SqliteWriter } from './writer.js';

const port = parentPort;
if (!port) throw new Error('writer.thread.js runs as a worker thread');
const writer = new SqliteWriter(workerData as WriterConfig);

let queued: { id: number; ops: WriteOp[] }[] = [];
let scheduled = false;

function commit(): void {
  scheduled = false;
  const batches = queued;
  queued = [];
  const results = writer.apply(batches.flatMap((b) => b.ops));
  let at = 0;
  const reply: WriterReply = {
    type: 'done',
    batches: batches.map((b) => {
      const slice = results.slice(at, at + b.ops.length);
      at += b.ops.length;
      return [b.id, slice];
    }),
  };
  port?.postMessage(reply);
}

port.on('message', (request: WriterRequest) => {
  if (request.type === 'close') {
    if (queued.length > 0) commit();
    writer.close();
    port.postMessage({ type: 'closed' } satisfies WriterReply);
    port.close();
    return;
  }
  queued.push({ id: request.id, ops: request.ops });
  // Every request already waiting on the port is delivered before this runs: they share the commit.
  if (!scheduled) {
    scheduled = true;
    setImmediate(commit);
  }
});

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/log.js';
import { createEngine } from '../../src/engine/create-engine.js';
import { startServer } from '../../src/http/server.js';
import { ADMIN, item, tempDir, waitFor } from '../helpers/engine.js';
import { countTurns } from '../helpers/turns.js';

/**
 * The store's writer thread dies under a running engine. Nothing more can be stored, so nothing more may happen:
 * the engine must not retry the refused writes for ever (a PENDING execution started again and again, a RUNNING
 * one's job sent again), must keep its event loop free, must say it is not ready, and must still close.
 */
describe('the store stops taking writes', () => {
  it('the engine stops acting on refused writes, keeps turning, reports not ready and closes; the store keeps what it had', async () => {
    // A target whose first request is held until the writer is gone: the job is out on a worker thread then.
    let hits = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const target = createServer((_req, res: ServerResponse) => {
      hits++;
      void held.then(() => res.end('ok'));
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;

    const lines: { msg: string; executionId?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string; executionId?: string });
        done();
      },
    });
    const dir = tempDir();
    const config = loadConfig({ TROUPE_DATA_DIR: dir, LOGGING_LEVEL: 'warn', TROUPE_STORE_SYNC: 'NORMAL', EXECUTION_MAX_CONCURRENT_JOBS: '1' });
    const logger = createLogger('warn', sink);
    const engine = await createEngine(config, logger);
    const server = await startServer({ engine, config, logger, port: 0, host: '127.0.0.1' });
    try {
      const run = await engine.coordinator.submitRun(
        { items: [item('held', [{ action: 'http', request: { method: 'GET', url } }]), item('waiting')] },
        ADMIN,
      );
      const [first, second] = run.executionIds as [string, string];
      await waitFor(() => hits === 1, 'the first job to reach the target');
      expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);

      const writer = (engine.store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker;
      await writer.terminate();
      await waitFor(() => engine.store.failure(), 'the store to report its failure');
      const turns = countTurns();
      // The first job ends: its PASS is refused, its slot is free, and the second's START is refused too.
      release();
      const refused = (id: string) => lines.some((l) => l.executionId === id && /transition not stored/.test(l.msg));
      await waitFor(() => refused(first) && refused(second), 'both refused transitions to be reported');
      // Retrying them would keep the event loop from turning (the refusals are immediate): it turns freely.
      const after = turns.count;
      await waitFor(() => turns.count > after + 1000, 'the event loop to keep turning');
      turns.stop();
      expect(hits).toBe(1); // the first job was not sent again
      // Neither execution was rebuilt from the store to try again: the engine holds no actor for them.
      expect(engine.coordinator.ownerOf(first)).toBeUndefined();
      expect(engine.coordinator.ownerOf(second)).toBeUndefined();
      expect(lines.filter((l) => /store takes no more writes/.test(l.msg)).map((l) => l.executionId).sort()).toEqual([first, second].sort());

      const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { store: string }).store).toBe('unreachable');
      // New work is refused with the store's error, not accepted and lost.
      await expect(engine.coordinator.submitRun({ items: [item('later')] }, ADMIN)).rejects.toThrow(/store writer stopped/);
      // What was stored stays as it was; a restart resumes it.
      expect((await engine.store.getExecution(first))?.status).toBe('RUNNING');
      expect((await engine.store.getExecution(second))?.status).toBe('PENDING');
    } finally {
      release();
      await server.close(0);
      await engine.close();
      target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

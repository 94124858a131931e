#!/usr/bin/env node
// A local HTTP target for examples/http.run.json: serves on 127.0.0.1:8787, runs the command given after `--`,
// then exits with that command's exit code. Usage: node examples/http-target.mjs -- npx troupe run examples/http.run.json
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';

const users = [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }];
const server = createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/healthz') return send(200, { ok: true });
  if (req.url === '/users') return send(200, { items: users });
  if (req.url === '/users/1') return send(200, users[0]);
  return send(404, { error: 'not found' });
});

server.listen(8787, '127.0.0.1', () => {
  const dash = process.argv.indexOf('--');
  const [command, ...args] = dash >= 0 ? process.argv.slice(dash + 1) : [];
  if (!command) {
    console.log('http target listening on http://127.0.0.1:8787 (Ctrl-C to stop)');
    return;
  }
  const child = spawn(command, args, { stdio: 'inherit' });
  child.on('exit', (code) => {
    server.close();
    process.exit(code ?? 1);
  });
});

/**
 * Builds the dashboard (dashboard/src) into dist/dashboard: one JS and one CSS bundle named by their content hash,
 * and index.html pointing at them. `npm run build` (and so `npm ci`'s prepare step) runs it.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'dashboard');
await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: join(root, 'dashboard', 'src', 'main.tsx') },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['chrome111', 'firefox113', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  logLevel: 'warning',
});

const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith('.js'));
const css = files.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`dashboard build: expected a .js and a .css bundle, got ${files.join(', ')}`);
const template = await readFile(join(root, 'dashboard', 'index.html'), 'utf8');
await writeFile(join(out, 'index.html'), template.replace('%APP_JS%', `/assets/${js}`).replace('%APP_CSS%', `/assets/${css}`));
console.log(`dashboard: dist/dashboard/assets/${js}, ${css}`);

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteRegistrar } from './http-kit.js';

/** The built dashboard (SPEC §9): index.html and its assets, named by their content hash. */
export interface DashboardFiles {
  index: string;
  assets: Map<string, { body: string; type: string }>;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

// Every asset comes from the server itself; the live channel is on the same origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** dist/dashboard of the package this module belongs to (run from dist/ or, under vitest, from src/). */
function builtDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(dir, 'dist', 'dashboard');
}

/** The built dashboard, read once; null when it was not built (`npm run build` builds it). */
export function loadDashboard(dir = builtDir()): DashboardFiles | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const assets = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(join(dir, 'assets'))) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { body: readFileSync(join(dir, 'assets', name), 'utf8'), type });
  }
  return { index: readFileSync(join(dir, 'index.html'), 'utf8'), assets };
}

/**
 * `GET /` answers the page (never cached: it names the current assets) and `GET /assets/:name` the assets, cached
 * for good (a new build has new names).
 */
export function dashboardRoutes(files: DashboardFiles | null, route: RouteRegistrar): void {
  route('get', '/', 0, () =>
    files
      ? { status: 200, text: files.index, contentType: 'text/html; charset=utf-8', headers: { 'cache-control': 'no-cache', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' } }
      : { status: 503, text: 'The dashboard is not built: run npm run build.\n', contentType: 'text/plain; charset=utf-8' },
  );
  route('get', '/assets/:name', 1, (ctx) => {
    const asset = files?.assets.get(ctx.params[0] ?? '');
    if (!asset) return { status: 404, text: 'not found\n', contentType: 'text/plain; charset=utf-8' };
    return { status: 200, text: asset.body, contentType: asset.type, headers: { 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' } };
  });
}

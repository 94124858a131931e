import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The compiled file a worker thread runs, beside the module that starts it. Under vitest modules are loaded from
 * their TypeScript sources, but threads cannot load `.ts` files: they run the copy `npm run build` put in `dist/`.
 */
export function threadEntry(moduleUrl: string, file: string): string {
  const sibling = fileURLToPath(new URL(file, moduleUrl));
  if (moduleUrl.endsWith('.js')) return sibling;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return join(root, 'dist', relative(root, sibling));
}

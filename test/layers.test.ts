import { join } from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { describe, expect, it } from 'vitest';

/**
 * Layers point one way (STYLE.md): core ← machines ← adapters ← actors ← engine ← http/cli. The rules live in
 * .dependency-cruiser.cjs and `npm run layers` (part of `npm test`) applies them to the tree; this shows that
 * they refuse what they are meant to.
 */

const ROOT = join(import.meta.dirname, '..');

async function violations(dirs: string[], baseDir: string): Promise<string[]> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'));
  const { tsConfig: _ts, ...rest } = options;
  const result = await cruise(dirs, { ...rest, baseDir, ...(baseDir === ROOT ? { tsConfig: { fileName: join(ROOT, 'tsconfig.json') } } : {}) });
  const output = result.output as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

describe('layer rules', () => {
  it('refuse core importing a runner (and allow the imports that point down)', async () => {
    expect(await violations(['src'], join(ROOT, 'test', 'fixtures', 'layers'))).toEqual([
      'core-is-the-bottom: src/core/items.mjs → src/runners/parse.mjs',
    ]);
  });

  it('hold for the source tree', async () => {
    expect(await violations(['src', 'actors', 'machines'], ROOT)).toEqual([]);
  });
});

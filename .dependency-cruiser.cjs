/**
 * Layers point one way (STYLE.md): core ← machines ← adapters (store, bus, pool, runners, worker, report)
 * ← actors ← engine ← interfaces (http, cli, service). A module may import its own layer and the layers below
 * it, never one above. `npm run layers` checks it; `npm test` runs that.
 */
const CORE = '^src/core/';
const MACHINES = '^machines/';
const ADAPTERS = '^src/(store|bus|pool|runners|worker|report)/';
const ACTORS = '^actors/';
const ENGINE = '^src/engine/';
const INTERFACES = '^src/(http|cli|service)/';

/** A rule that keeps `from` off every layer in `above`. */
const below = (name, comment, from, above) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: above },
});

module.exports = {
  forbidden: [
    below(
      'core-is-the-bottom',
      'src/core (statuses, schemas, errors, config) imports nothing of the project outside src/core: a runner, store or engine that core needs plugs in from above',
      CORE,
      `${MACHINES}|${ADAPTERS}|${ACTORS}|${ENGINE}|${INTERFACES}`,
    ),
    below('machines-are-pure', 'machines import only core (they are pure: no I/O, no adapters)', MACHINES, `${ADAPTERS}|${ACTORS}|${ENGINE}|${INTERFACES}`),
    below('adapters-below-actors', 'store, bus, pool, runners, worker and report never reach up into actors, the engine or the interfaces', ADAPTERS, `${ACTORS}|${ENGINE}|${INTERFACES}`),
    below('actors-below-engine', 'actors find each other through the actor system; they never import the engine or the interfaces', ACTORS, `${ENGINE}|${INTERFACES}`),
    below('engine-below-interfaces', 'the engine is driven by http, cli and service, never the other way round', ENGINE, INTERFACES),
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'import cycles make load order matter (madge --circular checks the same)',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test|bench)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};

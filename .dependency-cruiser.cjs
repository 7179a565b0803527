/**
 * Vigil's dependency rules (docs/design.md, "Shape of the code"), checked by `npm test`.
 * Layers from the bottom: shared → config → db → events → media → storage → services → api → app → cli.
 * A module may import its own layer and the layers below it, never one above; no import cycles.
 */
const SERVICES = ['cameras', 'recorder', 'indexer', 'footage', 'retention', 'anr', 'export', 'live', 'auth', 'demo', 'evidence', 'onvif', 'mqtt', 'webhooks', 'metrics', 'backup'];
const LAYERS = [
  { name: 'shared', dirs: ['shared'] },
  { name: 'config', dirs: ['config'] },
  { name: 'db', dirs: ['db'] },
  { name: 'events', dirs: ['events'] },
  { name: 'media', dirs: ['media'] },
  { name: 'storage', dirs: ['storage'] },
  { name: 'services', dirs: SERVICES },
  { name: 'api', dirs: ['api'] },
  { name: 'app', dirs: [], files: ['app.ts'] },
  { name: 'cli', dirs: ['cli'] },
];

const pathOf = (layer) => {
  const parts = [...layer.dirs.map((d) => `${d}/`), ...(layer.files ?? []).map((f) => f.replace('.', '\\.') + '$')];
  return `^src/(${parts.join('|')})`;
};

/** Every layer may not import any layer above it. */
const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} sits below ${LAYERS.slice(i + 1).map((l) => l.name).join(', ')}: it must not import them`,
  severity: 'error',
  from: { path: pathOf(layer) },
  to: { path: LAYERS.slice(i + 1).map(pathOf) },
}));

/** media and db are named twice on purpose: the review's rules (media → db, db → services, api ← services). */
const named = [
  {
    name: 'media-not-to-db-or-storage',
    comment: 'media builds ffmpeg arguments, spawns and parses; it knows nothing of the catalog or the recordings layout',
    severity: 'error',
    from: { path: '^src/media/' },
    to: { path: ['^src/db/', '^src/storage/'] },
  },
  {
    name: 'db-not-to-config',
    comment: 'the catalog speaks in its own and shared types, not the config file\'s',
    severity: 'error',
    from: { path: '^src/db/' },
    to: { path: '^src/config/' },
  },
  {
    name: 'engine-only-in-db',
    comment: 'nothing outside src/db/ names the catalog engine (invariant-free, but the PostgreSQL catalog depends on it)',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/db/' },
    to: { path: 'node_modules/(better-sqlite3|pg)/' },
  },
  {
    name: 'no-circular',
    comment: 'import cycles make rooms that cannot be understood alone',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'src-not-to-tests',
    comment: 'production code never imports tests, benchmarks or storms',
    severity: 'error',
    from: { path: '^src/', pathNot: '\\.test\\.ts$' },
    to: { path: ['^test/', '^bench/', '^torture/', '\\.test\\.ts$'] },
  },
];

module.exports = {
  forbidden: [...upward, ...named],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },

  },
};

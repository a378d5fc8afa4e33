/*
 * The import rules `npm run lint` checks (dependency-cruiser), type-only imports included: no cycle, nothing imports
 * the tests, and every import runs one way, down the floors below. docs/architecture.md draws them.
 */

/** The product's rooms by floor: a room imports only from rooms on lower floors (and its own). */
const floors = [
  ['config', 'deadline'],
  ['budget', 'log', 'admission'],
  ['db', 'protocol'],
  ['idempotency', 'auth', 'local-database', 'listening'],
  ['http', 'live-shares', 'lifecycle'],
  ['metrics'],
  ['composition'],
  ['scripts', 'main.ts'],
];
const room = (name) => `^server/${name.replace('.', '[.]')}`;
const anyOf = (names) => `(${names.map(room).join('|')})`;

const upward = floors.slice(0, -1).map((rooms, index) => ({
  name: `floor-${index}-imports-down`,
  comment: `server/{${rooms.join(',')}} may import only from the floors below it: ${floors
    .slice(0, index)
    .flat()
    .join(', ') || 'none'}.`,
  severity: 'error',
  from: { path: anyOf(rooms) },
  to: { path: anyOf(floors.slice(index + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'Every import runs one way: a cycle means two modules that cannot be read, tested or changed apart.',
      severity: 'error',
      from: { path: '^(server|loadtest|harness|prometheus|grafana|scripts)/' },
      to: { circular: true },
    },
    {
      name: 'no-product-imports-from-test',
      comment: 'The product, the load tester, the benches and the harness stand without the tests.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'product-stands-alone',
      comment: 'The product imports nothing of what is built around it: the harness, the load tester, the generators.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^(harness|loadtest|prometheus|grafana|scripts)/' },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

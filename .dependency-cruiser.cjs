/** The import rules `npm run lint` checks (dependency-cruiser), type-only imports included. */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'Every import runs one way: a cycle means two modules that cannot be read, tested or changed apart.',
      severity: 'error',
      from: { path: '^(server|metrics|loadtest|harness|prometheus|grafana|scripts)/' },
      to: { circular: true },
    },
    {
      name: 'no-product-imports-from-test',
      comment: 'The product, the load tester, the benches and the harness stand without the tests.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

import { runSteadyLoad, type LoadOptions } from './steady-load.js';

/** `node steady-load-process.js '<LoadOptions as JSON>'`: runs the load and prints its LoadResult as JSON. */
void runSteadyLoad(JSON.parse(process.argv[2] ?? '{}') as LoadOptions).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CredentialsError, readCredentials, type Credential } from '../engine/credentials.js';
import type { RunControl } from '../engine/runner.js';
import { runLoad } from './run-load.js';
import { loadScenarioFile } from '../engine/scenario-spec.js';
import { SetupError } from '../engine/sessions.js';
import { renderHtmlReport } from '../report/html-report.js';
import type { Result } from '../report/summary.js';
import { formatReport } from '../report/format-report.js';
import { checkLimits } from './limits.js';
import { parseCliArgs, usage, UsageError, type CliArgs } from './args.js';

const packageJson = resolve(__dirname, '../../../package.json');

function writeFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** The table, the JSON (--out, '-' for stdout: the table then goes to stderr) and the HTML report (--report). */
function writeOutputs(args: CliArgs, result: Result): void {
  const toStdout = args.out === '-';
  const say = toStdout ? (text: string) => console.error(text) : (text: string) => console.log(text);
  say(formatReport(result));
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (toStdout) process.stdout.write(json);
  else if (args.out) {
    writeFile(args.out, json);
    say(`result written to ${args.out}`);
  }
  if (args.report) {
    writeFile(args.report, renderHtmlReport(result));
    say(`report written to ${args.report}`);
  }
}

/** `npm run loadtest -- …`: see `usage` in args.ts. Exit 0 passed, 1 threshold failed, 2 usage, 3 could not run. */
async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs | 'help' | 'version';
  try {
    args = parseCliArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`loadtest: ${error.message}\n\n${usage}`);
    return 2;
  }
  if (args === 'help') {
    console.log(usage);
    return 0;
  }
  if (args === 'version') {
    console.log(
      `mysql-budget-loadtest ${(JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version}`,
    );
    return 0;
  }
  let credentials: Credential[];
  try {
    credentials = readCredentials(args.credentials);
  } catch (error) {
    if (!(error instanceof CredentialsError)) throw error;
    console.error(`loadtest: ${error.message}`);
    return 2;
  }
  const file = loadScenarioFile();
  for (const message of checkLimits(args.connections)) console.error(`loadtest: ${message}`);

  let control: RunControl | undefined;
  let reported = false;
  const linger = new AbortController();
  const onSignal = () => {
    if (control && !control.stopped) {
      console.error('loadtest: stopping early (Ctrl-C again to quit without a report)');
      control.stop('signal');
    } else if (reported) linger.abort();
    else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const model = args.rate === undefined ? 'closed model' : `open model at ${args.rate}/s`;
  console.error(`loadtest: run id ${args.runId} (label run_id on the loadtest_* metrics)`);
  console.error(
    `loadtest: ${args.scenario}, ${args.connections} connections, ${args.durationSeconds} s, ${model}, against ${args.url}`,
  );
  let result: Result;
  try {
    result = await runLoad(args, file, credentials, {
      log: (line) => console.error(line),
      started: (c) => (control = c),
      finished: (r) => {
        writeOutputs(args, r);
        reported = true;
      },
      lingerSignal: linger.signal,
    });
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    console.error(`loadtest: ${error.message}`);
    return 3;
  }
  return result.passed ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; if a stray handle remains, it must not keep a CI job waiting.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    console.error('loadtest: failed:', error);
    process.exit(3);
  },
);

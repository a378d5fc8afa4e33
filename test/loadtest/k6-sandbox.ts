import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import vm from 'node:vm';

/*
 * Runs a k6 script's init code, setup(), one iteration and handleSummary() in Node, with k6's modules
 * replaced by recorders, and prints what it did as JSON. k6 itself cannot be installed here; this is how
 * test/loadtest/k6-scripts.test.ts checks that the scripts do what loadtest/scenarios.json says.
 * Needs `node --experimental-vm-modules` (the scripts are ES modules importing k6/http...), so the test
 * runs it as a child process: node --experimental-vm-modules k6-sandbox.js '<json Input>'.
 */

interface Input {
  readonly script: string;
  readonly env: Record<string, string>;
  /** The users `open('../credentials.json')` returns; absent: the file is missing. */
  readonly credentials?: { email: string; password: string }[];
}

export interface Call {
  readonly method: string;
  readonly url: string;
  readonly body: string | null;
  readonly name: string | undefined;
  readonly headers: Record<string, string>;
}

export interface SandboxOutput {
  readonly options: Record<string, unknown>;
  readonly expectedStatuses: number[] | undefined;
  readonly setupCalls: Call[];
  readonly setupData: unknown;
  readonly iterationCalls: Call[];
  readonly sleeps: number[];
  readonly rates: Record<string, unknown[]>;
  readonly summary: Record<string, string>;
}

async function main(input: Input): Promise<SandboxOutput> {
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const rates: Record<string, unknown[]> = {};
  let expectedStatuses: number[] | undefined;
  let tokens = 0;
  const response = (url: string) => {
    const path = new URL(url).pathname;
    const status = path.endsWith('/login') ? 200 : path.endsWith('/logout') ? 204 : 200;
    const token = `token-${++tokens}`;
    return { status, json: (selector?: string) => (selector === 'token' ? token : { token }) };
  };
  const http = {
    request(
      method: string,
      url: string,
      body: string | null,
      params: { headers?: Record<string, string>; tags?: Record<string, string> } = {},
    ) {
      calls.push({ method, url, body, name: params.tags?.['name'], headers: { ...params.headers } });
      return response(url);
    },
    get: (url: string, params?: object) => http.request('GET', url, null, params),
    post: (url: string, body: string | null, params?: object) => http.request('POST', url, body, params),
    expectedStatuses: (...statuses: number[]) => ({ statuses }),
    setResponseCallback(callback: { statuses: number[] }) {
      expectedStatuses = callback.statuses;
    },
  };
  const k6 = {
    check: (value: unknown, checks: Record<string, (v: unknown) => boolean>) =>
      Object.values(checks).every((f) => f(value)),
    sleep: (seconds: number) => void sleeps.push(seconds),
    fail: (message: string) => {
      throw new Error(message);
    },
  };
  class SharedArray {
    constructor(_name: string, make: () => unknown[]) {
      // biome-ignore lint/correctness/noConstructorReturn: k6's SharedArray, constructed with new, is the array itself.
      return make();
    }
  }
  class Rate {
    constructor(readonly name: string) {
      rates[name] = [];
    }
    add(value: unknown) {
      rates[this.name]!.push(value);
    }
  }
  // k6's standard summary, which k6 itself downloads from jslib.k6.io: a stand-in that says what it was given.
  const textSummary = (data: { metrics: object }, options?: object) =>
    `[k6 textSummary of ${Object.keys(data.metrics).join(',')} ${JSON.stringify(options ?? {})}]`;
  const modules: Record<string, Record<string, unknown>> = {
    'https://jslib.k6.io/k6-summary/0.1.0/index.js': { textSummary },
    'k6/http': { default: http, ...http },
    k6: { default: k6, ...k6 },
    'k6/data': { SharedArray },
    'k6/metrics': { Rate },
  };
  const scriptDir = dirname(input.script);
  const open = (path: string) => {
    const file = resolve(scriptDir, path);
    if (basename(file) === 'credentials.json' || path === input.env['CREDENTIALS']) {
      if (!input.credentials) throw new Error(`open ${file}: no such file or directory`);
      return JSON.stringify(input.credentials);
    }
    return readFileSync(file, 'utf8');
  };
  const context = vm.createContext({ open, __ENV: input.env, __VU: 1, __ITER: 0, console });
  const script = new vm.SourceTextModule(readFileSync(input.script, 'utf8'), { identifier: input.script, context });
  // k6/... modules are the recorders above; a relative import (./common.js) is the real file, run in the same context.
  await script.link((specifier, referencing) => {
    if (specifier.startsWith('.')) {
      const file = resolve(dirname(referencing.identifier), specifier);
      return new vm.SourceTextModule(readFileSync(file, 'utf8'), { identifier: file, context });
    }
    const exports = modules[specifier];
    if (!exports) throw new Error(`the script imports ${specifier}, which this sandbox does not provide`);
    return new vm.SyntheticModule(
      Object.keys(exports),
      function () {
        for (const [key, value] of Object.entries(exports)) this.setExport(key, value);
      },
      { context },
    );
  });
  await script.evaluate();
  const ns = script.namespace as Record<string, unknown>;
  const setup = ns['setup'] as (() => unknown) | undefined;
  const setupData = setup ? setup() : undefined;
  const setupCalls = calls.splice(0);
  (ns['default'] as (data: unknown) => void)(setupData);
  const iterationCalls = calls.splice(0);
  const summaryData = {
    metrics: {
      http_reqs: { values: { count: 10, rate: 2.5 } },
      login_success: { values: { rate: 1 }, thresholds: { 'rate>0.99': { ok: true } } },
    },
  };
  const summary = (ns['handleSummary'] as (data: unknown) => Record<string, string>)(summaryData);
  return {
    options: ns['options'] as Record<string, unknown>,
    expectedStatuses,
    setupCalls,
    setupData,
    iterationCalls,
    sleeps,
    rates,
    summary: { ...summary },
  };
}

main(JSON.parse(process.argv[2] ?? '{}') as Input).then(
  (output) => process.stdout.write(JSON.stringify(output)),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

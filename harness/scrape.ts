import { spawnSync } from 'node:child_process';

export interface Series {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface Scrape {
  readonly text: string;
  readonly durationMs: number;
  /** Metric family names from the `# TYPE` lines. */
  readonly names: ReadonlySet<string>;
  /** Samples named exactly `name` (for a histogram, ask for `x_count`, `x_bucket`, `x_sum`) matching `labels`. */
  series(name: string, labels?: Record<string, string>): Series[];
  sum(name: string, labels?: Record<string, string>): number;
}

const samplePattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * Splits Prometheus text exposition into samples. The format's validity is checked separately by
 * Prometheus's own parser (`promtoolLint`, and the real Prometheus that scrapes the app in the
 * dashboard tests); this only reads values back, and throws on any sample line it cannot read.
 */
export function parseExposition(text: string): { names: Set<string>; samples: Series[] } {
  const names = new Set<string>();
  const samples: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) names.add(line.split(' ')[2] ?? '');
    if (line === '' || line.startsWith('#')) continue;
    const match = samplePattern.exec(line);
    if (!match) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(labelPattern)) labels[key!] = unescapeLabel(value!);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { names, samples };
}

/** Scrapes a /metrics endpoint. */
export async function scrape(url: string): Promise<Scrape> {
  const started = performance.now();
  const response = await fetch(url);
  const text = await response.text();
  const durationMs = performance.now() - started;
  if (response.status !== 200) throw new Error(`scrape ${url}: HTTP ${response.status}: ${text}`);
  const { names, samples } = parseExposition(text);
  const series = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
  return {
    text,
    durationMs,
    names,
    series,
    sum: (name, labels) => series(name, labels).reduce((total, s) => total + s.value, 0),
  };
}

/**
 * Prometheus's own parser and linter over the exposition (`promtool check metrics`), when promtool is
 * installed (CI installs it). Returns the problems it reports, or undefined when promtool is absent.
 */
export function promtoolLint(text: string): string[] | undefined {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) return undefined;
  return `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
}

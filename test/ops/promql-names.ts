/*
 * Reading the Grafana dashboard's PromQL: which metric names an expression selects, Grafana's variable
 * substitution, and every (panel, target) pair of a dashboard. Not a PromQL parser, but it handles what
 * dashboards use: label matchers, strings, ranges and subqueries, grouping clauses, functions,
 * `__name__` matchers and recording-rule names (those contain `:`, and come from prometheus/rules).
 */

// Keywords, operators and aggregations that are not metric names even when not followed by "(".
const promqlWords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);

const identifier = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export interface NamesInExpression {
  /** Metric names selected (without recording rules). */
  readonly metrics: string[];
  /** Recording-rule names (level:metric:operation) selected. */
  readonly recordings: string[];
}

export function metricNamesIn(expr: string): NamesInExpression {
  const found: string[] = [];
  // {__name__=~"a|b"} selects a and b. A real regex there cannot be checked by name: report it as is.
  for (const match of expr.matchAll(/__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
    const names = match[1] === '=~' ? match[2]!.split('|') : [match[2]!];
    found.push(...names.map((name) => (identifier.test(name) ? name : `__name__${match[1]}"${match[2]}"`)));
  }
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals (label values, regexes)
    .replace(/\{[^{}]*\}/g, ' ') // label matchers: label names are not metrics
    .replace(/\[[^\][]*\]/g, ' ') // range selectors and subqueries: [5m], [1h:1m]
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' '); // grouping label lists
  rest = rest.replace(/(?<![\w.])[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*/g, (name) => {
    found.push(name);
    return ' ';
  });
  // Identifiers not preceded by a digit or dot (numbers, durations like 5m, 1e-9) nor followed by "(" (functions).
  for (const match of rest.matchAll(/(?<![\w.$])([a-zA-Z_][a-zA-Z0-9_]*)\b(?!\s*\()/g)) {
    if (!promqlWords.has(match[1]!.toLowerCase())) found.push(match[1]!);
  }
  const unique = [...new Set(found)];
  return {
    metrics: unique.filter((name) => !name.includes(':')),
    recordings: unique.filter((name) => name.includes(':') && !name.startsWith('__name__')),
  };
}

/** Where a metric comes from when the app does not expose it. */
export function externalSource(name: string): 'prometheus' | 'loadtest' | 'k6' | undefined {
  if (name === 'ALERTS' || name === 'ALERTS_FOR_STATE' || name === 'up' || /^(scrape|prometheus)_/.test(name))
    return 'prometheus';
  if (name.startsWith('loadtest_')) return 'loadtest';
  if (name.startsWith('k6_')) return 'k6';
  return undefined;
}

/**
 * Grafana's variable interpolation for the forms dashboards use: `$name`, `${name}`, `${name:format}` and
 * the deprecated `[[name]]`. Longest names first, so `$__rate_interval` is not read as `$__rate`.
 */
export function substituteVariables(expr: string, values: Readonly<Record<string, string>>): string {
  const names = Object.keys(values).sort((a, b) => b.length - a.length);
  let result = expr;
  for (const name of names) {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    result = result.replace(
      new RegExp(`\\$\\{${escaped}(?::[^}]*)?\\}|\\[\\[${escaped}\\]\\]|\\$${escaped}(?![\\w])`, 'g'),
      () => values[name]!,
    );
  }
  return result;
}

/** Grafana's regex escaping of a variable value used in `=~"$var"`, as it does for Prometheus. */
export function grafanaRegexValue(values: readonly string[]): string {
  const escaped = values.map((value) => value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&'));
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

export interface DatasourceRef {
  readonly type?: string;
  readonly uid?: string;
}

export interface DashboardPanel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly description?: string;
  readonly datasource?: DatasourceRef | string | null;
  readonly gridPos?: { x: number; y: number; w: number; h: number };
  readonly fieldConfig?: { defaults?: { unit?: string } };
  readonly targets?: { refId?: string; expr?: string; datasource?: DatasourceRef | string | null }[];
  readonly panels?: DashboardPanel[];
  readonly repeat?: string;
}

export interface DashboardTarget {
  readonly panel: DashboardPanel;
  readonly refId: string;
  readonly expr: string;
  /** "<panel title> [refId]" for messages. */
  readonly where: string;
}

/** Every panel, including those inside collapsed rows, in dashboard order. */
export function allPanels(dashboard: { panels?: DashboardPanel[] }): DashboardPanel[] {
  return (dashboard.panels ?? []).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

export function dashboardTargets(dashboard: { panels?: DashboardPanel[] }): DashboardTarget[] {
  return allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel,
      refId: target.refId ?? '?',
      expr: target.expr ?? '',
      where: `"${panel.title ?? panel.id}" [${target.refId ?? '?'}]`,
    })),
  );
}

const aggregations = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);

/**
 * For every selector of a metric named `name` in `expr`, the innermost aggregation around it (`sum`, `max`…), or
 * undefined when none is: what decides whether a series every replica exports alike is counted once or N times.
 * Walks out through the parentheses, skipping functions (`rate(`) and reading `agg by (…) (` and `agg(`.
 */
export function aggregationsAround(
  expr: string,
  isWanted: (name: string) => boolean,
): { name: string; aggregation: string | undefined }[] {
  const blanked = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (s) =>
    /__name__/.test(s) ? s : `${'"'.padEnd(s.length - 1, ' ')}"`,
  );
  const found: { name: string; aggregation: string | undefined }[] = [];
  for (const match of expr.matchAll(
    /(?<![\w:"])([a-zA-Z_][a-zA-Z0-9_]*)(?=\s*[{[)\s]|$)|__name__\s*=~?\s*"([^"]*)"/g,
  )) {
    const names = match[1] !== undefined ? [match[1]] : match[2]!.split('|');
    const wanted = names.filter(isWanted);
    if (wanted.length === 0) continue;
    let depth = 0;
    let aggregation: string | undefined;
    for (let i = match.index - 1; i >= 0 && aggregation === undefined; i--) {
      const c = blanked[i];
      if (c === ')') depth++;
      else if (c === '(' && depth > 0) depth--;
      else if (c === '(') {
        const before = /([a-zA-Z_]+)\s*(?:(?:by|without)\s*\([^()]*\)\s*)?$/.exec(blanked.slice(0, i));
        if (before && aggregations.has(before[1]!)) aggregation = before[1]!;
      }
    }
    for (const name of wanted) found.push({ name, aggregation });
  }
  return found;
}

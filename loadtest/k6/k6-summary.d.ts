// Types for the k6 scripts' type-check (tsconfig.json here): what @types/k6 leaves out.

/** The parts of handleSummary's argument the scripts read (k6 passes more). */
interface SummaryMetric {
  readonly type?: string;
  readonly contains?: string;
  readonly values: Record<string, number>;
  readonly thresholds?: Record<string, { readonly ok: boolean }>;
}
interface SummaryData {
  readonly metrics: Record<string, SummaryMetric>;
  readonly [key: string]: unknown;
}

/** k6's standard end-of-test summary as text, from the k6 JavaScript library (k6 downloads it at run time). */
declare module 'https://jslib.k6.io/k6-summary/0.1.0/index.js' {
  export function textSummary(data: SummaryData, options?: { indent?: string; enableColors?: boolean }): string;
}

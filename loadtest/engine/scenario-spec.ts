import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

/** loadtest/scenarios.json: the scenarios both the k6 scripts and this tester run. */

export const scenarioFilePath = resolve(__dirname, '../../../loadtest/scenarios.json');
export const scenarioNames = ['login', 'me', 'mixed'] as const;
export type ScenarioName = (typeof scenarioNames)[number];
export const requestNames = ['login', 'me', 'logout'] as const;
export type RequestName = (typeof requestNames)[number];

const requestSpec = z.object({
  method: z.enum(['GET', 'POST']),
  path: z.string().startsWith('/'),
  expectStatus: z.number().int().min(100).max(599),
});
const flowSpec = z.object({
  description: z.string(),
  steps: z.array(z.object({ request: z.enum(requestNames), repeat: z.number().int().positive().optional() })).min(1),
  thinkTimeMs: z.number().min(0),
  /** Sessions logged in before the run and shared by the virtual users (k6: setup()). */
  sessions: z.number().int().positive().optional(),
});
const mixSpec = z.object({
  description: z.string(),
  mix: z.array(z.object({ scenario: z.enum(['login', 'me']), weight: z.number().positive() })).min(1),
});
const fileSpec = z.object({
  requests: z.object({ login: requestSpec, me: requestSpec, logout: requestSpec }),
  thresholds: z.object({
    loginSuccessRate: z.number().min(0).max(1),
    p95Ms: z.record(z.enum(requestNames), z.number().positive()),
  }),
  scenarios: z.object({ login: flowSpec, me: flowSpec, mixed: mixSpec }),
  k6: z.record(z.string(), z.unknown()),
});

export type RequestSpec = z.infer<typeof requestSpec>;
export type FlowSpec = z.infer<typeof flowSpec>;
export type MixSpec = z.infer<typeof mixSpec>;
export type ScenarioFile = z.infer<typeof fileSpec>;

export function loadScenarioFile(path = scenarioFilePath): ScenarioFile {
  const parsed = fileSpec.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** A flow's requests in order, repeats expanded: login → ['login', 'me', 'me', 'me', 'logout']. */
export function expandSteps(flow: FlowSpec): RequestName[] {
  return flow.steps.flatMap((step) => Array<RequestName>(step.repeat ?? 1).fill(step.request));
}

/** Whether a scenario needs sessions logged in before the run (its own or a mixed-in `me`). */
export function sessionsNeeded(file: ScenarioFile, scenario: ScenarioName): number {
  if (scenario === 'mixed')
    return file.scenarios.mixed.mix.some((m) => m.scenario === 'me') ? (file.scenarios.me.sessions ?? 1) : 0;
  const flow = file.scenarios[scenario];
  return flow.steps[0]?.request === 'login' ? 0 : (flow.sessions ?? 1);
}

import { loginBody, tokenOf } from './api.js';
import type { Credential } from './credentials.js';
import type { Requester, RunState } from './requester.js';
import type { Iteration } from './vu.js';
import { expandSteps, type FlowSpec, type ScenarioFile, type ScenarioName } from './scenario-spec.js';

export const jsonHeaders = ['content-type', 'application/json'];

export function bearer(token: string): string[] {
  return ['authorization', `Bearer ${token}`];
}

export interface FlowInputs {
  readonly file: ScenarioFile;
  readonly requester: Requester;
  readonly state: RunState;
  readonly credentials: readonly Credential[];
  /** Authorization headers of the sessions logged in before the run. */
  readonly sessions: readonly string[][];
}

/**
 * A flow's requests in order: a login step starts a session (a failed login ends the iteration); the
 * other steps use it, or a session from before the run when the flow has no login step.
 */
function flowIteration(flow: FlowSpec, inputs: FlowInputs): Iteration {
  const steps = expandSteps(flow);
  const loginBodies = inputs.credentials.map(loginBody);
  const expectLogin = inputs.file.requests.login.expectStatus;
  const { requester, state, sessions } = inputs;
  return async (vu) => {
    let auth = steps[0] === 'login' ? undefined : sessions[vu.index % sessions.length];
    for (const name of steps) {
      if (state.stopped) break;
      if (name === 'login') {
        const reply = await requester.exec(vu, 'login', jsonHeaders, loginBodies[vu.index % loginBodies.length], true);
        const token = reply && tokenOf(reply.status, expectLogin, reply.body);
        if (!token) break;
        auth = bearer(token);
      } else {
        if (!auth) break;
        await requester.exec(vu, name, auth, undefined, false);
      }
    }
    return flow.thinkTimeMs;
  };
}

export function buildIteration(scenario: ScenarioName, inputs: FlowInputs): Iteration {
  const { scenarios } = inputs.file;
  if (scenario !== 'mixed') return flowIteration(scenarios[scenario], inputs);
  const parts = scenarios.mixed.mix.map((m) => ({
    weight: m.weight,
    run: flowIteration(scenarios[m.scenario], inputs),
  }));
  const total = parts.reduce((sum, p) => sum + p.weight, 0);
  return (vu) => {
    let pick = Math.random() * total;
    for (const part of parts) {
      pick -= part.weight;
      if (pick < 0) return part.run(vu);
    }
    return parts[parts.length - 1]!.run(vu);
  };
}

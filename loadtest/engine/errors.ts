import { isConnectionReset } from '../../harness/sample.js';
import { problemCode } from './api.js';

/** Why a request failed, in the buckets the report and the live line show. */

export const causes = ['timeout', 'reset', 'refused', '503', '401', '429', 'http_other', 'other'] as const;
export type Cause = (typeof causes)[number];

const timeoutCodes = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/** The error's code (ECONNRESET, UND_ERR_HEADERS_TIMEOUT, EMFILE...), or its class name. */
export function socketErrorCode(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code !== '' ? code : error.name;
}

export function causeOfError(error: Error): Cause {
  const code = socketErrorCode(error);
  if (timeoutCodes.has(code)) return 'timeout';
  if (isConnectionReset(code)) return 'reset';
  if (code === 'ECONNREFUSED') return 'refused';
  return 'other';
}

/** undefined when `status` is the expected one. */
export function causeOfStatus(status: number, expected: number): Cause | undefined {
  if (status === expected) return undefined;
  if (status === 503) return '503';
  if (status === 401) return '401';
  if (status === 429) return '429';
  return 'http_other';
}

/** `503 overloaded`, `401 invalid_credentials`...: the status and the API's error code from the body, if any. */
export function statusDetail(status: number, body: string | undefined): string {
  const code = problemCode(body);
  return code !== undefined && /^[\w.-]{1,64}$/.test(code) ? `${status} ${code}` : String(status);
}

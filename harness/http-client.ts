import { checkContract } from './contract.js';

export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

/**
 * fetch that always reads the body, parses it as JSON when it is JSON, and checks the response against the API's
 * OpenAPI document (contract.ts): a response the contract does not allow fails the test that received it.
 */
export async function request(url: string, init: RequestInit & { json?: unknown } = {}): Promise<JsonResponse> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const response = await fetch(url, {
    ...rest,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '')
    body = JSON.parse(text) as Record<string, unknown>;
  checkContract(rest.method ?? 'GET', url, { status: response.status, headers: response.headers, text });
  return { status: response.status, headers: response.headers, body, text };
}

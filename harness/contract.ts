import { AssertionError } from 'node:assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { repoRoot } from './repo-root.js';

/*
 * The API contract as a test oracle: every response a test receives through `request()` is checked against the
 * committed OpenAPI document (docs/openapi.json). A path, method or status the document does not describe fails,
 * and so do a missing required header (Retry-After, WWW-Authenticate, Allow), a content type it does not list, and a
 * body its schema rejects. Routes mounted only for tests (/test/...) are not part of the contract.
 */

type Json = Record<string, unknown>;

const document = JSON.parse(readFileSync(resolve(repoRoot, 'docs/openapi.json'), 'utf8')) as Json & {
  paths: Record<string, Record<string, Json>>;
  components: Json & { responses: Record<string, Json>; headers: Record<string, Json> };
};

// strict: false because OpenAPI schemas carry `example`, which JSON Schema does not define.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
const validators = new Map<string, ValidateFunction>();

function validatorFor(pointer: string, schema: Json): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    // The document's components travel with each schema, so `#/components/schemas/...` references resolve.
    validate = ajv.compile({
      ...schema,
      $id: `https://contract.test/${validators.size}`,
      components: document.components,
    });
    validators.set(pointer, validate);
  }
  return validate;
}

function resolveRef<T extends Json>(value: T): T {
  const ref = value['$ref'];
  if (typeof ref !== 'string') return value;
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/'))
    node = (node as Json)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node as T;
}

export interface ContractResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** Throws an AssertionError naming what the document does not allow. */
export function checkContract(method: string, url: string, response: ContractResponse): void {
  const path = new URL(url).pathname;
  if (path.startsWith('/test/')) return;
  const where = `${method.toUpperCase()} ${path} → ${response.status}`;
  const fail = (message: string) => {
    throw new AssertionError({ message: `contract: ${where}: ${message}\n${response.text.slice(0, 300)}` });
  };
  const pathItem = document.paths[path];
  const operation =
    pathItem?.[method.toLowerCase()] ?? (method.toUpperCase() === 'HEAD' ? pathItem?.['get'] : undefined);
  let described: Json | undefined;
  let pointer: string;
  if (!pathItem) {
    described = response.status === 404 ? document.components.responses['NotFound'] : undefined;
    pointer = '#/components/responses/NotFound';
  } else if (!operation) {
    described = response.status === 405 ? document.components.responses['MethodNotAllowed'] : undefined;
    pointer = '#/components/responses/MethodNotAllowed';
  } else {
    const responses = operation['responses'] as Record<string, Json>;
    described = responses[String(response.status)];
    pointer = `#/paths/${path}/${method.toLowerCase()}/${response.status}`;
  }
  if (!described) fail('the document does not describe this status');
  const spec = resolveRef(described!);

  for (const [name, header] of Object.entries((spec['headers'] ?? {}) as Record<string, Json>)) {
    const definition = resolveRef(header);
    const value = response.headers.get(name);
    if (value === null) {
      if (definition['required'] === true) fail(`required header ${name} is missing`);
      continue;
    }
    const validate = validatorFor(`${pointer}/headers/${name}`, (definition['schema'] ?? {}) as Json);
    if (!validate(value)) fail(`header ${name}: ${ajv.errorsText(validate.errors)}`);
  }

  const content = spec['content'] as Record<string, Json> | undefined;
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!content) {
    if (response.text !== '') fail('the document describes no body, but there is one');
    return;
  }
  if (method.toUpperCase() === 'HEAD') return;
  const media = content[contentType];
  if (!media) fail(`content type ${contentType || '(none)'} is not one of ${Object.keys(content).join(', ')}`);
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    fail('the body is not JSON');
  }
  const validate = validatorFor(`${pointer}/${contentType}`, (media!['schema'] ?? {}) as Json);
  if (!validate(body)) fail(`body: ${ajv.errorsText(validate.errors)}`);
}

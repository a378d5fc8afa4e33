import type { z } from 'zod';
import { httpErrors } from './http-error.js';

/** Parses `input` with `schema`, or throws a 422 listing one message per invalid field. */
export function validate<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
    fields[field] ??= issue.message;
  }
  throw httpErrors.validationFailed(fields);
}

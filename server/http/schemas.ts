import { z } from 'zod';

// Messages the API client sees, per field.
const required = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
});
const noControlCharacters = /^[^\u0000-\u001f\u007f]*$/;
// A lone UTF-16 surrogate cannot be stored as UTF-8: MySQL would keep U+FFFD and the row would no longer
// match what the client sent (or, for a password, two different inputs would hash alike).
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = (value: string) => !loneSurrogate.test(value);

const email = z
  .string(required('a string'))
  .refine(wellFormed, 'must be valid Unicode')
  .trim()
  .max(254, 'must be at most 254 characters')
  .toLowerCase()
  .pipe(z.email('must be a valid email address'));

const password = z
  .string(required('a string'))
  .min(1, 'is required')
  .max(1024, 'must be at most 1024 characters')
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL characters')
  .refine(wellFormed, 'must be valid Unicode');

export const registerSchema = z.object({
  email,
  password: password.refine((value) => value.length >= 8, 'must be at least 8 characters'),
  name: z
    .string(required('a string'))
    .trim()
    .min(1, 'is required')
    .max(100, 'must be at most 100 characters')
    .regex(noControlCharacters, 'must not contain control characters')
    .refine(wellFormed, 'must be valid Unicode'),
});

export const loginSchema = z.object({ email, password });

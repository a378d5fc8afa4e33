import { z } from 'zod';

// Messages the API client sees, per field.
const required = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
});
const noControlCharacters = /^[^\u0000-\u001f\u007f]*$/;

const email = z
  .string(required('a string'))
  .trim()
  .max(254, 'must be at most 254 characters')
  .toLowerCase()
  .pipe(z.email('must be a valid email address'));

const password = z
  .string(required('a string'))
  .min(1, 'is required')
  .max(1024, 'must be at most 1024 characters')
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');

export const registerSchema = z.object({
  email,
  password: password.refine((value) => value.length >= 8, 'must be at least 8 characters'),
  name: z
    .string(required('a string'))
    .trim()
    .min(1, 'is required')
    .max(100, 'must be at most 100 characters')
    .regex(noControlCharacters, 'must not contain control characters'),
});

export const loginSchema = z.object({ email, password });

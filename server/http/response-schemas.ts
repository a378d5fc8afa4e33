import { z } from 'zod';

/*
 * What the API answers, as zod schemas: the OpenAPI document is generated from these and from the request schemas
 * the routes validate with (schemas.ts), so the contract cannot drift from the code without a test noticing.
 */

export const userSchema = z
  .object({
    id: z.int().positive(),
    email: z.email().meta({ description: 'Trimmed and lower-cased at registration' }),
    name: z.string(),
    createdAt: z.iso.datetime(),
  })
  .meta({
    examples: [{ id: 42, email: 'ada@example.com', name: 'Ada Lovelace', createdAt: '2026-11-30T14:00:00.000Z' }],
  });

export const sessionSchema = z.object({
  token: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/)
    .meta({ description: '256 random bits, base64url; send it as `Authorization: Bearer <token>`' }),
  expiresAt: z.iso.datetime(),
  user: userSchema,
});

export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({ status: z.literal('ready') });

export const problemSchema = z.object({
  type: z
    .string()
    .meta({ description: 'Identifies the problem: `/problems/<code>` (a URI reference; not meant to be fetched)' }),
  title: z.string().meta({ description: "The status's reason phrase; the same for every occurrence of a type" }),
  status: z.int(),
  detail: z.string(),
  instance: z.string().meta({ description: 'This occurrence: `/requests/<request id>`' }),
  error: z
    .string()
    .meta({ description: 'Extension: the machine-readable code (what `type` names), as in the first API version' }),
  message: z.string().meta({ description: 'Extension: the same text as `detail`, as in the first API version' }),
  requestId: z.string().meta({ description: 'Extension: the X-Request-Id of this request' }),
  fields: z
    .record(z.string(), z.string())
    .optional()
    .meta({ description: 'Extension (422 only): one message per invalid field' }),
});

/** The user the document's examples show. */
export const userExample = {
  id: 42,
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  createdAt: '2026-11-30T14:00:00.000Z',
};

import type { RouteSpec } from '../route-spec.js';

/**
 * GET /openapi.json on the API port (public, like the API it describes; never on the metrics port). Built once per
 * app from the route table; cacheable, and revalidated by its ETag.
 */
export const openApiRoutes: readonly RouteSpec[] = [
  {
    method: 'get',
    path: '/openapi.json',
    unqueued: true,
    operation: {
      operationId: 'openapi',
      tags: ['contract'],
      summary: 'This document',
      responses: [
        {
          status: 200,
          description: 'The OpenAPI document (cacheable; revalidate with If-None-Match)',
          schema: { type: 'object' },
          headers: ['ETag'],
        },
        { status: 304, description: 'Unchanged since the ETag sent in If-None-Match', headers: ['ETag'] },
      ],
      problems: [],
    },
    handlers: ({ openApi }) => [
      (ctx) => {
        ctx.set('Cache-Control', 'public, max-age=300');
        ctx.set('ETag', openApi.etag);
        ctx.status = 200;
        if (ctx.fresh) {
          ctx.status = 304;
          return;
        }
        ctx.type = 'application/json';
        ctx.body = openApi.text;
      },
    ],
  },
];

import { createHash } from 'node:crypto';
import type Router from '@koa/router';
import type { AppState } from '../app-state.js';
import { createOpenApiDocument } from '../openapi-document.js';

/**
 * GET /openapi.json on the API port (public, like the API it describes; never on the metrics port). Built once per
 * worker; cacheable, and revalidated by its ETag.
 */
export function openApiRoutes(router: Router<AppState>): void {
  const text = `${JSON.stringify(createOpenApiDocument(), null, 2)}\n`;
  const etag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('ETag', etag);
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = text;
  });
}

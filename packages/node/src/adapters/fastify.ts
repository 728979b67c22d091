import type { FastifyInstance } from 'fastify';
import { currentContext } from '../context.js';
import { enterRequest, instrumentServer } from '../inbound/http.js';
import { getLabcoat } from '../global.js';
import type { Labcoat } from '../labcoat.js';

export interface LabcoatFastifyOptions {
  /** The SDK instance (default: the one from `init()`). */
  labcoat?: Labcoat;
}

/**
 * Fastify plugin: every request runs in its labcoat context and records a server span named by
 * its route template (`GET /titles/:id`). It instruments the server at the node:http level, so
 * hooks, handlers and body parsing all see the context.
 *
 * @example
 * await app.register(labcoatFastify);
 */
async function labcoatPlugin(fastify: FastifyInstance, options: LabcoatFastifyOptions): Promise<void> {
  instrumentServer(fastify.server, options.labcoat);
  fastify.addHook('onRequest', (request, reply, done) => {
    let ctx = currentContext();
    if (!ctx) {
      // Requests that bypass the server (`fastify.inject()` in tests) get their context here.
      const lc = options.labcoat ?? getLabcoat();
      if (lc) ctx = enterRequest(lc, request.raw, reply.raw);
    }
    const url = request.routeOptions?.url;
    if (ctx && typeof url === 'string') ctx.route = url;
    done();
  });
}

// What fastify-plugin does: make the hook apply to the whole app, not only to this plugin's scope.
export const labcoatFastify = Object.assign(labcoatPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'labcoat',
  [Symbol.for('plugin-meta')]: { name: 'labcoat', fastify: '>=4' },
});

export default labcoatFastify;

import { fileURLToPath } from 'node:url';
import { startService, stopServices, type RunningService } from './launcher.js';

const EXAMPLE = new URL('../../../../examples/chain/dist/src/', import.meta.url);

/** The three-service example (edge → catalog → ratings), started as real processes. */
export interface Chain {
  readonly edge: RunningService;
  readonly catalog: RunningService;
  readonly ratings: RunningService;
  /** Point ids of the chain's dependency calls. */
  readonly points: { edgeToCatalog: string; catalogToRatings: string; ratingsToDb: string };
  stop(): Promise<void>;
}

/**
 * Starts examples/chain: ratings (Hono), catalog (Fastify, calls ratings with node:http), edge
 * (node:http, calls catalog with fetch). Each gets the shared key and exports spans to `otlpUrl`.
 */
export async function startChain(options: { key: string; otlpUrl?: string }): Promise<Chain> {
  const started: RunningService[] = [];
  const base: Record<string, string> = { LABCOAT_KEY: options.key };
  if (options.otlpUrl) base['LABCOAT_OTLP_URL'] = options.otlpUrl;
  const script = (name: string): string => fileURLToPath(new URL(`${name}.js`, EXAMPLE));
  try {
    const ratings = await startService({ name: 'ratings', script: script('ratings'), env: { ...base, LABCOAT_SERVICE: 'ratings' } });
    started.push(ratings);
    const catalog = await startService({
      name: 'catalog',
      script: script('catalog'),
      env: { ...base, RATINGS_URL: ratings.url, LABCOAT_SERVICES: `ratings=127.0.0.1:${ratings.port}` },
    });
    started.push(catalog);
    const edge = await startService({
      name: 'edge',
      script: script('edge'),
      env: { ...base, CATALOG_URL: catalog.url, LABCOAT_SERVICES: `catalog=127.0.0.1:${catalog.port}` },
    });
    started.push(edge);
    return {
      edge,
      catalog,
      ratings,
      points: {
        edgeToCatalog: 'edge->catalog GET /items/:id',
        catalogToRatings: 'catalog->ratings GET /ratings/:id',
        ratingsToDb: 'ratings->ratings-db select ratings',
      },
      stop: () => stopServices(started),
    };
  } catch (e) {
    await stopServices(started);
    throw e;
  }
}

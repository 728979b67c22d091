/**
 * The web console's files (packages/console/dist, built by `npm run build`), served at `/` by the
 * control plane: content types, long caching for Vite's hashed `/assets/*`, `index.html` for
 * client-side paths (no extension), 404 for missing files, nothing outside the directory. No auth:
 * the bundle holds no data; every API call it makes needs a token.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type http from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** packages/console/dist, from packages/labcoat/dist/src/server/. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../../../console/dist/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Paths the console never answers: the API's own namespaces. */
export function isConsolePath(pathname: string): boolean {
  return !(pathname.startsWith('/api/') || pathname === '/api' || pathname.startsWith('/v1/') || pathname === '/openapi.json');
}

export class ConsoleFiles {
  private readonly root: string;

  constructor(dir: string = DEFAULT_CONSOLE_DIR) {
    this.root = normalize(dir.endsWith(sep) ? dir : dir + sep);
  }

  /** Answers a GET or HEAD for `pathname` (already known to be a console path). */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return this.plain(res, 400, 'malformed path');
    }
    if (rel.includes('\0')) return this.plain(res, 400, 'malformed path');
    let file = normalize(join(this.root, rel));
    if (!file.startsWith(this.root) && file + sep !== this.root) return this.plain(res, 404, 'not found');
    let st = await stat(file).catch(() => undefined);
    if (st?.isDirectory()) {
      file = join(file, 'index.html');
      st = await stat(file).catch(() => undefined);
    }
    if (!st?.isFile()) {
      // A client-side route (`/campaigns/cmp_x`) gets the app; a missing file (`/assets/x.js`) a 404.
      if (extname(rel) !== '') return this.plain(res, 404, `no such file: ${pathname}`);
      file = join(this.root, 'index.html');
      st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) return this.plain(res, 404, 'the web console is not built: run npm run build (packages/console/dist is missing)');
    }
    const isIndex = file === join(this.root, 'index.html');
    const hashed = !isIndex && file.startsWith(join(this.root, 'assets') + sep);
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(isIndex ? { 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
  }

  private plain(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    res.end(text);
  }
}

/**
 * json-server (0.17, on Express 4) as a real third-party upstream, with Express's own
 * method-override middleware in front as many Express apps have it: it honours
 * X-HTTP-Method-Override and `?_method=`, reads `name[]=v` as `name` (qs), and routes paths
 * regardless of case (Express's default).
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import methodOverride from 'method-override';

const require = createRequire(import.meta.url);
// json-server 0.17 ships CommonJS without types
const jsonServer = require('json-server') as {
  create(): any;
  router(db: object): any;
  defaults(opts: object): any[];
};

export interface JsonServer {
  url: string;
  port: number;
  /** the router's database, as the upstream sees it */
  db(): Record<string, any[]>;
  /** requests the upstream saw, after method override */
  seen: { method: string; url: string; body: unknown }[];
  close(): Promise<void>;
}

export async function startJsonServer(data: Record<string, unknown[]>): Promise<JsonServer> {
  const app = jsonServer.create();
  const router = jsonServer.router(structuredClone(data));
  const seen: JsonServer['seen'] = [];
  app.use(methodOverride('X-HTTP-Method-Override'));
  app.use(methodOverride('_method'));
  app.use(...jsonServer.defaults({ logger: false, static: '/nonexistent', noCors: true }));
  app.use((req: any, _res: any, next: () => void) => {
    seen.push({ method: req.method, url: req.originalUrl, body: undefined });
    next();
  });
  app.use(router);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    db: () => router.db.getState(),
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The web console's files, served as they are: plain HTML, CSS and JavaScript with no build step.
 * Only the files named here are served, so a path can never reach anything else on disk.
 */
import { readFile } from 'node:fs/promises';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Scripts and styles come from this origin only; nothing inline, so injected markup cannot run. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const cache = new Map<string, Buffer>();

export async function consoleAsset(path: string): Promise<{ body: Buffer; type: string } | undefined> {
  const entry = FILES[path];
  if (!entry) return undefined;
  let body = cache.get(entry.file);
  if (!body) {
    body = await readFile(new URL(`./${entry.file}`, import.meta.url));
    cache.set(entry.file, body);
  }
  return { body, type: entry.type };
}

/**
 * Recorded requests to replay: JSON-lines files as `portcullis sessions export` writes them, from a
 * file or folder, from an export published at a URL, or from the base revision's git tree (where a
 * pull request cannot delete them).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordedRequest } from '../recording/format.ts';
import { parseRecordings } from '../recording/read.ts';
import { PortcullisError } from '../errors.ts';
import { treeAtRef } from './git.ts';

const recordingFile = /\.(jsonl|ndjson|json)$/;

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export async function loadRecordings(path: string): Promise<RecordedRequest[]> {
  if (isUrl(path)) return fetchRecordings(path);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new PortcullisError('not_found', `recordings ${path} do not exist`, { details: { hint: 'export some with: portcullis sessions export > recordings/sessions.jsonl' } });
  const files: string[] = [];
  if (info.isFile()) files.push(path);
  else {
    const walk = async (dir: string) => {
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (recordingFile.test(e.name)) files.push(p);
      }
    };
    await walk(path);
  }
  const out: RecordedRequest[] = [];
  for (const f of files) out.push(...parseRecordings(await readFile(f, 'utf8'), f));
  return out;
}

/**
 * An export of the gateway's evidence published somewhere the pull request cannot edit (an
 * artifact store, an internal server). `PORTCULLIS_RECORDINGS_TOKEN`, when set, is sent as a bearer token.
 */
export async function fetchRecordings(url: string): Promise<RecordedRequest[]> {
  const token = process.env.PORTCULLIS_RECORDINGS_TOKEN;
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/x-ndjson, application/json, text/plain', ...(token ? { authorization: `Bearer ${token}` } : {}) }, redirect: 'follow' });
  } catch (err) {
    throw new PortcullisError('unavailable', `cannot fetch recordings from ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) {
    throw new PortcullisError('unavailable', `cannot fetch recordings from ${url}: HTTP ${res.status}`, {
      details: { hint: res.status === 401 || res.status === 403 ? 'set PORTCULLIS_RECORDINGS_TOKEN to a token that may read the export' : 'check the URL' },
    });
  }
  return parseRecordings(await res.text(), url);
}

/** The recordings folder `path` (relative to the policy folder) as committed at `ref`. */
export function recordingsAtRef(dir: string, ref: string, path: string): RecordedRequest[] {
  const out: RecordedRequest[] = [];
  for (const f of treeAtRef(dir, ref, path, (p) => recordingFile.test(p))) out.push(...parseRecordings(f.text, `${ref}:${f.path}`));
  return out;
}

/** Both sources, each recorded request once (a session's request is identified by session and seq). */
export function mergeRecordings(...sources: readonly (readonly RecordedRequest[])[]): RecordedRequest[] {
  const seen = new Set<string>();
  const out: RecordedRequest[] = [];
  for (const list of sources) {
    for (const r of list) {
      const key = `${r.sessionId}\u0000${r.seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

/** Recorded requests to replay: JSON-lines files as `portcullis sessions export` writes them. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordedRequest } from '../recording/format.ts';
import { parseRecordings } from '../recording/read.ts';
import { PortcullisError } from '../errors.ts';

export async function loadRecordings(path: string): Promise<RecordedRequest[]> {
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
        else if (/\.(jsonl|ndjson|json)$/.test(e.name)) files.push(p);
      }
    };
    await walk(path);
  }
  const out: RecordedRequest[] = [];
  for (const f of files) out.push(...parseRecordings(await readFile(f, 'utf8'), f));
  return out;
}

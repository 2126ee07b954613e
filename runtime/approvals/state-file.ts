/**
 * Durable JSON state of the single-node approval store: written to a temporary file, fsynced and
 * renamed over the old one, so a crash leaves either the old state or the new one, never half.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PortcullisError } from '../errors.ts';
import type { ApprovalRequest, Grant } from './types.ts';

export interface ApprovalState {
  version: 1;
  requests: ApprovalRequest[];
  grants: Grant[];
}

export const STATE_FILE = 'state.json';

export function statePath(dataDir: string): string {
  return join(dataDir, 'approvals', STATE_FILE);
}

export async function readState(path: string): Promise<ApprovalState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, requests: [], grants: [] };
    throw new PortcullisError('failed_precondition', `cannot read approval state ${path}`, { cause: error });
  }
  try {
    const state = JSON.parse(text) as ApprovalState;
    if (state.version !== 1 || !Array.isArray(state.requests) || !Array.isArray(state.grants)) throw new Error('unexpected shape');
    return state;
  } catch (error) {
    throw new PortcullisError('failed_precondition', `approval state ${path} is not valid`, {
      cause: error,
      details: { hint: 'the evidence log holds every approval event; move the file aside to start with no pending approvals' },
    });
  }
}

export async function writeState(path: string, state: ApprovalState): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

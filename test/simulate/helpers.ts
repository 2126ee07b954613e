/** A throwaway git repo holding a copy of the example policies, and recordings made with the engine. */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { decide } from '../../runtime/engine/decide.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import type { RecordedRequest } from '../../runtime/recording/format.ts';

const example = fileURLToPath(new URL('../../policies', import.meta.url));

export interface TempRepo {
  root: string;
  /** the policy folder inside the repo (a subfolder, as in a real monorepo) */
  dir: string;
  git(...args: string[]): string;
  edit(path: string, change: (text: string) => string): Promise<void>;
  commit(message: string): string;
}

export async function tempRepo(): Promise<TempRepo> {
  const root = await mkdtemp(join(tmpdir(), 'portcullis-sim-'));
  const dir = join(root, 'policies');
  await cp(example, dir, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();
  git('init', '-q', '-b', 'main');
  const repo: TempRepo = {
    root,
    dir,
    git,
    async edit(path, change) {
      const p = join(dir, path);
      await writeFile(p, change(await readFile(p, 'utf8')));
    },
    commit(message) {
      git('add', '-A');
      git('commit', '-q', '-m', message);
      return git('rev-parse', 'HEAD');
    },
  };
  repo.commit('base');
  return repo;
}

/** Requests as the gateway would have recorded them, decided by the bundle in `dir`. */
export async function record(dir: string, requests: { as: string; target: string; sql?: string; http?: string; k8s?: string }[]): Promise<RecordedRequest[]> {
  const bundle = await loadBundle(dir);
  const out: RecordedRequest[] = [];
  requests.forEach((spec, i) => {
    for (const request of buildRequests(bundle, { ...spec, at: '2025-01-06T12:00:00.000Z' })) {
      out.push({ sessionId: `s${i % 3}`, seq: out.length + 1, request, decision: decide(bundle, request) });
    }
  });
  return out;
}

export async function writeRecordings(dir: string, recordings: RecordedRequest[]): Promise<void> {
  await mkdir(join(dir, 'recordings'), { recursive: true });
  await writeFile(join(dir, 'recordings', 'sessions.jsonl'), recordings.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

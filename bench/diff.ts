/**
 * The permission diff of a generated repo of 1,000 files (the lint benchmark's repo) against itself
 * with one rule widened, timed. Run with `npx tsx bench/diff.ts [FILES]`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGeneratedRepo } from './generated-repo.ts';
import { loadBundle } from '../runtime/bundle/load.ts';
import { permissionDiff } from '../runtime/diff/permissions.ts';

const files = Number(process.argv[2] ?? 1000);

const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-lint-'));
try {
  await writeGeneratedRepo(dir, files);
  const base = await loadBundle(dir);
  const widened = join(dir, 'policies', 'team-0-write.yaml');
  await writeFile(widened, (await readFile(widened, 'utf8')).replace('actions: [insert], resources: [events] }', 'actions: [insert], resources: [events, orders] }'));
  const head = await loadBundle(dir);
  const started = performance.now();
  const diff = permissionDiff(base, head);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `permission diff of ${files} files: ${diff.points} requests decided twice in ${ms} ms; ${diff.widened} widening(s): ${diff.changes
      .filter((c) => c.direction === 'widen')
      .map((c) => `${c.identities.join(',')} ${c.action} ${c.resource} on ${c.target}`)
      .join('; ')}\n`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Policy patterns on RE2: decide() with `statementPattern: ^(\d|\d\d)+$` (issue 16: 79 s on 42 digits
 * when V8's backtracking engine ran it) on near-miss inputs of growing length, next to V8's RegExp on
 * the same inputs, as far as V8 finishes in reasonable time. Reported, never asserted.
 *
 *   npx tsx bench/patterns.ts
 */
import { compileBundle } from '../runtime/bundle/load.ts';
import { decide } from '../runtime/engine/decide.ts';
import type { PostgresRequest } from '../runtime/engine/request.ts';

const h = 'apiVersion: portcullis.dev/v1';
const files = [
  { path: 't.yaml', text: `${h}\nkind: Target\nmetadata: { name: db }\nspec: { type: postgres, host: 127.0.0.1, port: 5432, database: app, user: app, password: { env: DB_PASSWORD } }\n` },
  { path: 'i.yaml', text: `${h}\nkind: Identity\nmetadata: { name: bot }\nspec: { kind: agent, match: { subject: bot }, groups: [agents] }\n` },
  {
    path: 'p.yaml',
    text: `${h}\nkind: Policy\nmetadata: { name: p }\nspec:\n  subjects: [{ group: agents }]\n  targets: [db]\n  rules:\n    - { id: digits, effect: allow, actions: [select], resources: [orders], when: { statementPattern: "^(\\\\d|\\\\d\\\\d)+$" } }\n`,
  },
];
const result = compileBundle('/bench', files, { git: { commit: null, dirty: false } });
if (!result.bundle) throw new Error(JSON.stringify(result.diagnostics));
const bundle = result.bundle;

const request = (text: string): PostgresRequest => ({
  protocol: 'postgres',
  subject: { identity: 'bot', groups: ['agents'] },
  target: 'db',
  at: '2026-12-07T00:00:00Z',
  statement: { text, class: 'select', relations: [{ name: 'orders', access: 'read' }], hasWhere: true },
});

function time(fn: () => unknown, repeats: number): number {
  const start = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return (performance.now() - start) / repeats;
}

const v8 = /^(\d|\d\d)+$/;
decide(bundle, request('1')); // the first decision pays for the engine's own warm-up
process.stdout.write('digits + "x"   decide on RE2 (ms)   V8 RegExp (ms)\n');
for (const n of [20, 24, 28, 42, 1_000, 100_000]) {
  const text = `${'1'.repeat(n)}x`;
  const re2 = time(() => decide(bundle, request(text)), n > 10_000 ? 3 : 50);
  const backtracking = n <= 28 ? time(() => v8.test(text), 1).toFixed(1) : 'not run (exponential)';
  process.stdout.write(`${String(n).padStart(12)}   ${re2.toFixed(3).padStart(18)}   ${backtracking.padStart(14)}\n`);
}

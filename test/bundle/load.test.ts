import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileBundle } from '../../runtime/bundle/load.ts';
import { generateTypes } from '../../schema/generate-types.ts';
import { dbTarget, identities, policy } from '../engine/helpers.ts';

const exec = promisify(execFile);

function load(files: Record<string, string>) {
  return compileBundle(
    '/repo',
    Object.entries(files).map(([path, text]) => ({ path, text })),
  );
}

describe('loading a policy repo', () => {
  it('reports a schema error at the file, line and column of the bad value, with a did-you-mean', () => {
    const r = load({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - id: x\n      effect: permit\n      actions: [select]\n      efect: allow\n'),
    });
    expect(r.bundle).toBeUndefined();
    expect(r.diagnostics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'p.yaml', line: 9, column: 15, message: 'spec.rules[0].effect is "permit"; expected one of allow, deny, review' }),
        expect.objectContaining({ file: 'p.yaml', line: 11, message: "unknown field 'efect' in spec.rules[0]", hint: "did you mean 'effect'?" }),
      ]),
    );
  });

  it('refuses an inline secret and explains how to reference one', () => {
    const r = load({ 't.yaml': dbTarget.replace('{ env: DB_PASSWORD }', 'hunter2'), 'i.yaml': identities });
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'inline-secret', file: 't.yaml', line: 10, hint: expect.stringContaining('{env: NAME}') })]);
  });

  it('resolves references with a did-you-mean, and finds duplicates', () => {
    const r = load({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - { id: x, effect: review, actions: [delet], review: { approvers: { groups: [dbas] } } }\n')
        .replace('targets: [db]', 'targets: [dbb]')
        .replace('group: agents', 'group: agnets'),
      'q.yaml': policy('p', '    - { id: x, effect: allow, actions: [select] }\n'),
    });
    const messages = r.diagnostics.map((d) => `${d.file}:${d.line} ${d.message} ${d.hint ?? ''}`);
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^q\.yaml:3 Policy 'p' is already defined at p\.yaml:3/)]));
    const r2 = load({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - { id: x, effect: review, actions: [delet], review: { approvers: { groups: [dbas] } } }\n')
        .replace('targets: [db]', 'targets: [db, dbb]')
        .replace('group: agents', 'group: agnets'),
    });
    const m2 = r2.diagnostics.map((d) => `${d.line} ${d.message} ${d.hint ?? ''}`);
    expect(m2).toEqual(
      expect.arrayContaining([
        "5 no identity is in group 'agnets' did you mean 'agents'?",
        "6 unknown target 'dbb' did you mean 'db'?",
        "8 action 'delet' means nothing to postgres targets did you mean 'delete'?",
        "8 no identity is in approver group 'dbas' did you mean 'dba'?",
      ]),
    );
  });

  it('reports YAML syntax errors with their position', () => {
    const r = load({ 'bad.yaml': 'apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: { name: x\n' });
    expect(r.diagnostics[0]).toMatchObject({ code: 'yaml', file: 'bad.yaml', line: expect.any(Number) });
  });

  it('stamps the revision with a digest that ignores file layout', () => {
    const a = load({ 't.yaml': dbTarget, 'i.yaml': identities });
    const b = load({ 'x/identities.yaml': identities, 'y/targets.yaml': dbTarget });
    expect(a.bundle!.revision.digest).toBe(b.bundle!.revision.digest);
    expect(a.bundle!.revision.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps schema/types.ts in step with the schemas', async () => {
    expect(await readFile('schema/types.ts', 'utf8')).toBe(await generateTypes());
  });
});

describe('portcullis decide on a malformed repo', () => {
  it('prints file:line:col diagnostics and no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-bad-'));
    await mkdir(join(dir, 'p'));
    await writeFile(join(dir, 'p', 'broken.yaml'), policy('p', '    - { id: x, effect: allow, actions: [select], colour: red }\n'));
    await writeFile(join(dir, 't.yaml'), dbTarget);
    await writeFile(join(dir, 'i.yaml'), identities);
    const err = await exec('npx', ['tsx', 'cli/portcullis.ts', 'decide', '--policies', dir, '--as', 'bot', '--target', 'db', '--sql', 'select 1']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain("p/broken.yaml:8:50: error [schema] unknown field 'colour' in spec.rules[0]");
    expect(err.stderr).not.toMatch(/\n\s+at /);
  });
});

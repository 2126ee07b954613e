/** A loader error is one finding among others: the rest of the repo is still checked by every rule. */
import { describe, expect, it } from 'vitest';
import { lintFiles } from '../../runtime/lint/run.ts';
import { policy, repo } from './fixture.ts';

describe('loader errors do not hide other findings', () => {
  it('reports all four planted errors in a repo of 200 files', () => {
    const filler: Record<string, string> = {};
    for (let i = 0; i < 192; i++) filler[`policies/p${String(i).padStart(4, '0')}.yaml`] = policy(`- { id: r, effect: deny, actions: [ddl], resources: ["t${i}"] }`, { name: `filler-${i}` });
    const planted = {
      'a-yaml.yaml': 'a: [1, 2\n',
      'b-schema.yaml': policy(`- { id: r, effect: alow, actions: [select], resources: [orders] }`, { name: 'b' }),
      'c-reference.yaml': policy(`- { id: r, effect: allow, actions: [select], resources: [orders] }`, { name: 'c', targets: '[dbb]' }),
      'd-unsafe.yaml': policy(`- { id: r, effect: allow, actions: [delete], resources: [orders] }`, { name: 'd' }),
    };
    const report = lintFiles('/repo', repo({ ...filler, ...planted }));
    expect(report.files).toBe(200);
    const errors = report.findings.filter((f) => f.severity === 'error').map((f) => `${f.file} ${f.rule}`);
    expect(errors).toEqual(['a-yaml.yaml yaml-syntax', 'b-schema.yaml schema', 'c-reference.yaml unresolved-reference', 'd-unsafe.yaml destructive-without-review']);
  });

  it('does not report what only follows from a file set aside', () => {
    // the replica's file is broken: the policy naming the replica is not also an "unknown target" error
    const report = lintFiles(
      '/repo',
      repo({
        'replica.yaml': 'apiVersion: portcullis.dev/v1\nkind: Target\nmetadata: { name: replica }\nspec: { type: postgres, hots: x }\n',
        'e-replica.yaml': policy(`- { id: r, effect: allow, actions: [select], resources: [orders] }`, { name: 'e', targets: '[replica]' }),
        'd-unsafe.yaml': policy(`- { id: r, effect: allow, actions: [delete], resources: [orders] }`, { name: 'd' }),
      }),
    );
    const found = report.findings.map((f) => `${f.file} ${f.rule}`);
    expect(
      found.filter((f) => !f.startsWith('replica.yaml ')),
      found.join('\n'),
    ).toEqual(['d-unsafe.yaml destructive-without-review']);
    expect(found).not.toContain('d-unsafe.yaml unresolved-reference');
    // and absence rules (orphan target, identity without policy) stay quiet on the partial repo
    expect(report.findings.some((f) => f.rule === 'orphan-target' || f.rule === 'identity-without-policy')).toBe(false);
  });
});

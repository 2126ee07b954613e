/** Lists in lint messages are joined with ", ": a slash is part of names like pods/exec. */
import { describe, expect, it } from 'vitest';
import { lintFiles } from '../../runtime/lint/run.ts';
import { policy, repo } from './fixture.ts';

describe('lint messages', () => {
  it('name each exec subresource separately', () => {
    const report = lintFiles('/repo', repo({ 'k.yaml': policy(`- { id: shell, effect: allow, actions: [create], resources: [pods/exec, pods/attach] }`, { name: 'k', targets: '[k8s]' }) }));
    const f = report.findings.find((x) => x.rule === 'destructive-without-review');
    expect(f?.message).toMatch(/allows create, pods\/exec, pods\/attach to agents without review|allows pods\/exec, pods\/attach/);
    expect(f?.message).not.toMatch(/pods\/exec\/pods/);
  });

  it('name target types with commas', () => {
    const report = lintFiles('/repo', repo({ 'm.yaml': policy(`- { id: r, effect: deny, actions: [selec] }`, { name: 'm', targets: '[db, api]' }) }));
    expect(report.findings.map((x) => x.message).join('\n')).toMatch(/action 'selec' means nothing to postgres, http targets/);
  });
});

/**
 * SARIF 2.1.0 for GitHub code scanning: rule metadata (title, explanation, fix) in the driver so
 * the Security tab explains each alert, results located by repo-relative path, and in-file
 * suppressions carried as SARIF suppressions with their reason.
 */
import type { LintReport, LintRule, Finding, Severity } from '../../runtime/lint/types.ts';

const level: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };
const securitySeverity: Record<Severity, string> = { error: '8.0', warning: '5.0', info: '2.0' };

export function lintSarif(r: LintReport, rules: readonly LintRule[], version = '0.1.0'): string {
  const index = new Map(rules.map((rule, i) => [rule.id, i]));
  const result = (f: Finding, suppression?: string) => ({
    ruleId: f.rule,
    ...(index.has(f.rule) ? { ruleIndex: index.get(f.rule)! } : {}),
    level: level[f.severity],
    message: { text: f.hint ? `${f.message}. Fix: ${f.hint}` : f.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: encodeURI(f.file), uriBaseId: '%SRCROOT%' },
          region: { startLine: f.line, startColumn: f.column },
        },
      },
    ],
    partialFingerprints: { 'portcullis/v1': `${f.rule}:${f.file}:${f.message}` },
    ...(suppression !== undefined ? { suppressions: [{ kind: 'inSource', justification: suppression }] } : {}),
  });
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'portcullis',
            informationUri: 'https://portcullis.dev/docs/policy-ci',
            version,
            semanticVersion: version,
            rules: rules.map((rule) => ({
              id: rule.id,
              name: rule.id.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase()),
              shortDescription: { text: rule.title },
              fullDescription: { text: rule.explanation },
              help: { text: `${rule.explanation}\n\nFix: ${rule.fix}`, markdown: `${rule.explanation}\n\n**Fix:** ${rule.fix}` },
              defaultConfiguration: { level: level[rule.severity] },
              properties: { tags: ['portcullis', 'policy', 'security'], 'security-severity': securitySeverity[rule.severity] },
            })),
          },
        },
        columnKind: 'unicodeCodePoints',
        results: [...r.findings.map((f) => result(f)), ...r.suppressed.map((f) => result(f, f.reason))],
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

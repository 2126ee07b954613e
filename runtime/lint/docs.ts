/**
 * The lint catalogue as Markdown, generated from the rule files: docs/policy-ci.md embeds it
 * between markers, and a test fails when the two drift. Regenerate with
 * `npx tsx runtime/lint/docs.ts docs/policy-ci.md`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rules } from './catalogue.ts';

export const BEGIN = '<!-- lint-catalogue:begin (generated from runtime/lint/rules; do not edit) -->';
export const END = '<!-- lint-catalogue:end -->';

export function catalogueMarkdown(): string {
  const order = { error: 0, warning: 1, info: 2 };
  const sorted = [...rules].sort((a, b) => order[a.severity] - order[b.severity] || (a.id < b.id ? -1 : 1));
  const out = ['| rule | severity | catches |', '| --- | --- | --- |'];
  for (const r of sorted) out.push(`| [\`${r.id}\`](#${r.id}) | ${r.severity} | ${r.title} |`);
  for (const r of sorted)
    out.push('', `#### ${r.id}`, '', `*${r.severity}*${r.fromLoader ? ' · reported by the bundle loader; cannot be suppressed' : ''}`, '', r.explanation, '', `**Fix:** ${r.fix}`);
  return out.join('\n');
}

export function withCatalogue(doc: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error('the document has no lint catalogue markers');
  return `${doc.slice(0, start + BEGIN.length)}\n${catalogueMarkdown()}\n${doc.slice(end)}`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/runtime\//, 'runtime/'))) {
  const path = process.argv[2] ?? 'docs/policy-ci.md';
  writeFileSync(path, withCatalogue(readFileSync(path, 'utf8')));
}

/**
 * What the session needs to know of a statement beyond its analysis: whether it can change
 * anything (a read may run before its record is durable), and whether the catalog may differ after it.
 */
import { analyzeCached, type AnalyzedStatement } from '../../sql/analyze.ts';
import { walk } from '../../sql/ast.ts';
import type { Decision } from '../../engine/decision.ts';

/** The empty string has no statement in it (PostgreSQL answers EmptyQueryResponse); the parser refuses it. */
export function analyzeQuery(sql: string): readonly AnalyzedStatement[] {
  return sql === '' ? [] : analyzeCached(sql);
}

const readOnlyCache = new WeakMap<AnalyzedStatement, boolean>();

/**
 * A statement that cannot change anything: a plain SELECT with no function calls (a function may
 * write, or call nextval) and no row locks (FOR UPDATE/SHARE anywhere in the parse tree — the text
 * cannot be trusted for that: `FOR /* … *\/ UPDATE` is a lock too). Analyses are shared per text, so
 * the answer is remembered per analysis.
 */
export function readOnly(s: AnalyzedStatement): boolean {
  const known = readOnlyCache.get(s);
  if (known !== undefined) return known;
  const st = s.statement;
  let locks = false;
  walk(s.ast, (node) => {
    if (node.type === 'LockingClause') locks = true;
    return !locks;
  });
  const answer = st.class === 'select' && !s.executes && st.relations.every((r) => r.access === 'read') && (st.functions?.length ?? 0) === 0 && !locks;
  readOnlyCache.set(s, answer);
  return answer;
}

export function emptyDecision(): Decision {
  return { effect: 'allow', rules: [], masks: [], reason: '', revision: { commit: null, dirty: false, digest: '' } };
}

/** Statements after which the catalog may differ: anything not a plain query, write or session setting. */
export function changesSchema(s: AnalyzedStatement): boolean {
  const c = s.statement.class;
  return c === 'ddl' || c === 'admin';
}

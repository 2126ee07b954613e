import type { LintRule } from '../types.ts';
import { loaderFindings } from '../loader-findings.ts';

export default {
  id: 'unresolved-reference',
  severity: 'error',
  title: 'Reference to a target, identity, group, classification or action that does not exist',
  explanation:
    'Policies name targets, identities, groups, approver groups, classifications and actions by name. A name that resolves to nothing is a policy that silently does something else: a rule for group `agnets` applies to nobody, and a mask of classification `pi` masks nothing. Every unknown name is an error, with the closest existing name suggested.',
  fix: 'Correct the name (see the did-you-mean hint) or define what it refers to.',
  fromLoader: true,
  check: (ctx) => loaderFindings(ctx, ['unresolved-reference']),
} satisfies LintRule;

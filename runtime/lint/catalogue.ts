/** Every lint rule, one file each under rules/. Order here is the order of --explain lists and docs. */
import agentApprover from './rules/agent-approver.ts';
import allowOverriddenByDeny from './rules/allow-overridden-by-deny.ts';
import classifiedDataUnmasked from './rules/classified-data-unmasked.ts';
import confusableName from './rules/confusable-name.ts';
import destructiveWithoutReview from './rules/destructive-without-review.ts';
import duplicateName from './rules/duplicate-name.ts';
import duplicateRule from './rules/duplicate-rule.ts';
import grantTtlExceedsMax from './rules/grant-ttl-exceeds-max.ts';
import identityWithoutPolicy from './rules/identity-without-policy.ts';
import ineffectiveMask from './rules/ineffective-mask.ts';
import inlineSecret from './rules/inline-secret.ts';
import insecureTransport from './rules/insecure-transport.ts';
import invisibleUnicode from './rules/invisible-unicode.ts';
import orphanTarget from './rules/orphan-target.ts';
import policyMatchesNoTarget from './rules/policy-matches-no-target.ts';
import redundantRule from './rules/redundant-rule.ts';
import reviewWithoutApprovers from './rules/review-without-approvers.ts';
import schema from './rules/schema.ts';
import selfApproval from './rules/self-approval.ts';
import shadowedRule from './rules/shadowed-rule.ts';
import undeclaredPathSemantics from './rules/undeclared-path-semantics.ts';
import unknownTestRule from './rules/unknown-test-rule.ts';
import unmaskedContentType from './rules/unmasked-content-type.ts';
import unresolvedReference from './rules/unresolved-reference.ts';
import unsupportedRegex from './rules/unsupported-regex.ts';
import unusedSuppression from './rules/unused-suppression.ts';
import vacuousInvariant from './rules/vacuous-invariant.ts';
import vacuousTest from './rules/vacuous-test.ts';
import weakMaskStrategy from './rules/weak-mask-strategy.ts';
import wildcardAllowForAgents from './rules/wildcard-allow-for-agents.ts';
import yamlSyntax from './rules/yaml-syntax.ts';
import type { LintRule } from './types.ts';

export const rules: readonly LintRule[] = [
  agentApprover,
  allowOverriddenByDeny,
  classifiedDataUnmasked,
  confusableName,
  destructiveWithoutReview,
  duplicateName,
  duplicateRule,
  grantTtlExceedsMax,
  identityWithoutPolicy,
  ineffectiveMask,
  inlineSecret,
  insecureTransport,
  invisibleUnicode,
  orphanTarget,
  policyMatchesNoTarget,
  redundantRule,
  reviewWithoutApprovers,
  schema,
  selfApproval,
  shadowedRule,
  undeclaredPathSemantics,
  unknownTestRule,
  unmaskedContentType,
  unresolvedReference,
  unsupportedRegex,
  unusedSuppression,
  vacuousInvariant,
  vacuousTest,
  weakMaskStrategy,
  wildcardAllowForAgents,
  yamlSyntax,
];

export function findRule(id: string): LintRule | undefined {
  return rules.find((r) => r.id === id);
}

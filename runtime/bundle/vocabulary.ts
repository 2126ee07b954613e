/**
 * The actions each target type understands. A rule naming an action its targets cannot perform is
 * a typo or a misunderstanding; both are errors.
 */
import { StatementClasses } from '../engine/request.ts';
import { ExplorationActions } from '../engine/exploration.ts';
import type { TargetType } from './model.ts';

export const HttpMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const KubernetesVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export const McpMethods = ['tools/call', 'tools/list', 'resources/read', 'resources/list', 'prompts/get', 'prompts/list'] as const;

export const actionsByType: Record<TargetType, readonly string[]> = {
  postgres: StatementClasses,
  http: HttpMethods,
  kubernetes: KubernetesVerbs,
  mcp: McpMethods,
};

/**
 * What a rule's `actions` may name: the above, and on PostgreSQL the exploration actions (`catalog`,
 * `tableless`), which are not statement classes but cover harmless reads of one (exploration.ts).
 */
export const ruleActionsByType: Record<TargetType, readonly string[]> = {
  ...actionsByType,
  postgres: [...StatementClasses, ...ExplorationActions],
};

/** Actions that destroy or change data; the linter wants them behind review. */
export const destructiveActions: Record<TargetType, readonly string[]> = {
  postgres: ['delete', 'update', 'ddl', 'admin'],
  http: ['DELETE'],
  kubernetes: ['delete', 'deletecollection'],
  mcp: [],
};

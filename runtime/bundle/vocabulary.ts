/**
 * The actions each target type understands. A rule naming an action its targets cannot perform is
 * a typo or a misunderstanding; both are errors.
 */
import { StatementClasses } from '../engine/request.ts';
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

/** Actions that destroy or change data; the linter wants them behind review. */
export const destructiveActions: Record<TargetType, readonly string[]> = {
  postgres: ['delete', 'update', 'ddl', 'admin'],
  http: ['DELETE'],
  kubernetes: ['delete', 'deletecollection'],
  mcp: [],
};

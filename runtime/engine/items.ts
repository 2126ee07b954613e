/**
 * A request decomposed into the (action, resource) pairs policy rules speak about. A statement that
 * reads `orders` and writes `archive` is two items; every item must be allowed for the request to be.
 */
import type { Request } from './request.ts';
import { relationName } from './match.ts';
import { isExplorableCatalogRelation, isExploringStatement, type ExplorationAction } from './exploration.ts';

export interface Item {
  action: string;
  /** undefined when the request touches no named resource (e.g. `SELECT 1`) */
  resource?: string;
  namespace?: string;
  /**
   * A second action whose rules cover this item too: `catalog` for a read of the system catalog,
   * `tableless` for a SELECT that reads no relation (exploration.ts says which qualify).
   */
  also?: ExplorationAction;
}

const writeActions = new Set(['insert', 'update', 'delete']);

export function itemsOf(req: Request): Item[] {
  switch (req.protocol) {
    case 'postgres': {
      const s = req.statement;
      const actions = s.actions && s.actions.length > 0 ? [...s.actions] : [s.class];
      const writes = actions.filter((a) => writeActions.has(a));
      const exploring = isExploringStatement(s);
      if (s.relations.length === 0) return actions.map((action) => (exploring ? { action, also: 'tableless' } : { action }));
      const out: Item[] = [];
      for (const r of s.relations) {
        if (exploring && isExplorableCatalogRelation(r.schema, r.name)) {
          out.push({ action: 'select', resource: relationName(r.schema ?? 'pg_catalog', r.name), also: 'catalog' });
          continue;
        }
        const resource = relationName(r.schema, r.name);
        const acts = writes.length > 0 ? (r.access === 'write' ? writes : ['select']) : actions;
        for (const action of acts) out.push({ action, resource });
      }
      return out;
    }
    case 'http':
      return [{ action: req.method.toUpperCase(), resource: req.path }];
    case 'kubernetes':
      return [
        {
          action: req.verb,
          resource: req.subresource ? `${req.resource}/${req.subresource}` : req.resource,
          ...(req.namespace !== undefined ? { namespace: req.namespace } : {}),
        },
      ];
    case 'mcp':
      return [{ action: req.method, ...(req.name !== undefined ? { resource: req.name } : {}) }];
  }
}

export function describeItem(item: Item): string {
  const ns = item.namespace ? ` in namespace ${item.namespace}` : '';
  return item.resource === undefined ? item.action : `${item.action} on ${item.resource}${ns}`;
}

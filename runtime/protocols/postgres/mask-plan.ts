/**
 * Masking of result rows. A RowDescription says, per column, which table column it came from
 * (table OID and attribute number); the catalog turns that into a name, the decision's masks into a
 * strategy. Columns PostgreSQL computed (origin 0) carry no classified value: the statement passed
 * the mask-safety analysis, which refuses any statement where they could.
 */
import type { Mask, MaskStrategy } from '../../engine/decision.ts';
import type { Catalog } from '../../sql/catalog.ts';
import { maskOfColumn, type MaskLookup, type OutputMask } from '../../sql/mask-safety.ts';
import { decodeDataRow, type FieldDescription } from './wire/backend.ts';
import { dataRow } from './wire/serialize.ts';
import { maskValue } from '../../masking/strategies.ts';
import { Lru } from '../../sql/analyze.ts';
import { compileColumnPattern } from '../../engine/pattern.ts';

const strength: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

export type ColumnMasks = MaskLookup & {
  /** strongest strategy of a mask whose column part matches this name, whatever the table */
  byColumnName(column: string): MaskStrategy | undefined;
};

const lookups = new Lru<string, ColumnMasks>(256);

/**
 * The decision's column masks as a lookup. Lookups are shared per distinct mask set, so caches keyed
 * on the function (mask-safety's "is anything masked on this target") stay warm across statements.
 */
export function maskLookup(masks: readonly Mask[]): ColumnMasks {
  const columns = masks.filter((m) => m.kind === 'column');
  const key = columns.map((m) => `${m.pattern}|${m.strategy}|${m.source}`).join('\n');
  const hit = lookups.get(key);
  if (hit) return hit;
  const compiled = columns.map((m) => ({ re: compileColumnPattern(m.pattern), strategy: m.strategy, label: m.source.replace(/^classification:/, '') }));
  const cache = new Map<string, { strategy: MaskStrategy; label?: string } | undefined>();
  const lookup = ((schema: string, table: string, column: string) => {
    const name = `${schema}.${table}.${column}`;
    if (cache.has(name)) return cache.get(name);
    let best: { strategy: MaskStrategy; label?: string } | undefined;
    for (const c of compiled) {
      if (c.re.test(name) && (!best || strength[c.strategy] > strength[best.strategy])) best = { strategy: c.strategy, label: c.label };
    }
    cache.set(name, best);
    return best;
  }) as ColumnMasks;
  const byColumn = columns.map((m) => ({ re: compileColumnPattern(m.pattern), strategy: m.strategy }));
  lookup.byColumnName = (column) => {
    let best: MaskStrategy | undefined;
    for (const c of byColumn) if (c.re.testColumn(column) && (!best || strength[c.strategy] > strength[best])) best = c.strategy;
    return best;
  };
  lookups.set(key, lookup);
  return lookup;
}

export interface ColumnPlan {
  index: number;
  strategy: MaskStrategy;
  typeOid: number;
  format: 0 | 1;
}

export interface MaskPlan {
  fields: FieldDescription[];
  masked: ColumnPlan[];
}

/** Which columns of a result to mask, from its RowDescription. */
/** oids a refresh did not find (system catalogs, temp tables): not refreshed for again per catalog version */
const unknownOids = new WeakMap<Catalog, { version: number; oids: Set<number> }>();

async function originOf(catalog: Catalog, tableOid: number, attnum: number) {
  const known = catalog.origin(tableOid, attnum);
  if (known) return known;
  let seen = unknownOids.get(catalog);
  if (seen?.oids.has(tableOid)) return undefined;
  const found = await catalog.originRefreshing(tableOid, attnum);
  if (!found) {
    if (!seen || seen.version !== catalog.version) unknownOids.set(catalog, (seen = { version: catalog.version, oids: new Set() }));
    seen.oids.add(tableOid);
  }
  return found;
}

export async function planFor(fields: FieldDescription[], catalog: Catalog, lookup: ColumnMasks, outputMasks?: readonly OutputMask[]): Promise<MaskPlan> {
  const masked: ColumnPlan[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.tableOid === 0) continue;
    let strategy: MaskStrategy | undefined;
    const explicit = outputMasks?.find((m) => m.tableOid === f.tableOid && m.attnum === f.attnum);
    if (explicit) strategy = explicit.strategy;
    const origin = await originOf(catalog, f.tableOid, f.attnum);
    // An origin the catalog cannot name even after a refresh (a system catalog, a temp table): mask
    // it when its name is one a mask names, so an unknown table cannot launder a classified column.
    const found = origin ? maskOfColumn(catalog, lookup, origin.relation, origin.column.name) : lookup.byColumnName(f.name);
    const s = typeof found === 'string' ? found : found?.strategy;
    if (s && (!strategy || strength[s] > strength[strategy])) strategy = s;
    if (strategy) masked.push({ index: i, strategy, typeOid: f.typeOid, format: f.format === 1 ? 1 : 0 });
  }
  return { fields, masked };
}

export function maskRow(raw: Buffer, plan: MaskPlan, key: Buffer): { row: Buffer; values: (Buffer | null)[]; count: number } {
  const values = decodeDataRow(raw.subarray(5));
  let count = 0;
  for (const c of plan.masked) {
    const v = values[c.index];
    if (v === undefined) continue;
    values[c.index] = maskValue(v, c.typeOid, c.format, c.strategy, key);
    if (v !== null) count++;
  }
  return { row: dataRow(values), values, count };
}

/** A row as the evidence sample keeps it: text columns as strings, binary ones as base64. */
export function sampleRow(values: (Buffer | null)[], fields: FieldDescription[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  values.forEach((v, i) => {
    const f = fields[i];
    const name = f?.name ?? `column${i + 1}`;
    out[name] = v === null ? null : f?.format === 1 ? `base64:${v.toString('base64')}` : v.toString('utf8');
  });
  return out;
}

/**
 * Validation against the JSON Schemas in `schema/`, the single source of truth for the format.
 * ajv's errors are rewritten into sentences a policy author can act on.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { didYouMean } from './diagnostics.ts';

const schemaDir = fileURLToPath(new URL('../../schema/', import.meta.url));

export const DocumentKinds = ['Repository', 'Target', 'Identity', 'Policy', 'Invariant', 'PolicyTest'] as const;
export type DocumentKind = (typeof DocumentKinds)[number];

const files: Record<DocumentKind, string> = {
  Repository: 'repository.schema.json',
  Target: 'target.schema.json',
  Identity: 'identity.schema.json',
  Policy: 'policy.schema.json',
  Invariant: 'invariant.schema.json',
  PolicyTest: 'policy-test.schema.json',
};

let validators: Map<DocumentKind, ValidateFunction> | undefined;

function load(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(schemaDir, name), 'utf8')) as Record<string, unknown>;
}

function compiled(): Map<DocumentKind, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv2020({ allErrors: true, discriminator: true, strict: false, verbose: true });
  const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
  addFormats(ajv);
  ajv.addSchema(load('common.schema.json'), 'common.schema.json');
  validators = new Map();
  for (const kind of DocumentKinds) {
    const schema = load(files[kind]);
    validators.set(kind, ajv.compile(schema));
  }
  return validators;
}

export interface SchemaProblem {
  pointer: string;
  /** the problem is the key at `pointer` (an unknown field), not its value */
  atKey?: boolean;
  message: string;
  hint?: string;
}

export function validateDocument(kind: DocumentKind, value: unknown): SchemaProblem[] {
  const validate = compiled().get(kind)!;
  if (validate(value)) return [];
  return explain(validate.errors ?? [], value);
}

function valueAt(root: unknown, pointer: string): unknown {
  let v: unknown = root;
  for (const seg of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function field(pointer: string): string {
  const path = pointer
    .split('/')
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
    .join('')
    .replace(/^\./, '');
  return path || '(document)';
}

const secretFields = /\/(password|bearer|value|ca)$/;

/**
 * ajv reports every failed branch of a oneOf; keep the ones a human needs. Unknown fields,
 * wrong enum values and missing fields become one sentence each, with a did-you-mean.
 */
function explain(errors: ErrorObject[], root: unknown): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  const push = (p: SchemaProblem) => {
    const key = `${p.pointer}|${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  };
  // A value inside a failed oneOf that has a more specific error deeper down: drop the generic one.
  const deepest = errors.filter((e) => !errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath + '/') && e.keyword === 'oneOf'));
  for (const e of deepest) {
    const at = e.instancePath;
    const value = valueAt(root, at);
    if (secretFields.test(at) && typeof value === 'string') {
      push({
        pointer: at,
        message: `${field(at)} holds an inline secret; secrets never live in the policy repo`,
        hint: `reference it instead: {env: NAME} or {file: /path/to/secret}`,
      });
      continue;
    }
    switch (e.keyword) {
      case 'additionalProperties': {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        const allowed = Object.keys(((e.parentSchema as { properties?: object })?.properties ?? {}) as object);
        const guess = didYouMean(extra, allowed);
        push({
          pointer: `${at}/${extra}`,
          atKey: true,
          message: `unknown field '${extra}' in ${field(at)}`,
          hint: guess ? `did you mean '${guess}'?` : `allowed fields: ${allowed.join(', ')}`,
        });
        break;
      }
      case 'required':
        push({ pointer: at, message: `${field(at)} is missing required field '${(e.params as { missingProperty: string }).missingProperty}'` });
        break;
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        const guess = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
        push({
          pointer: at,
          message: `${field(at)} is ${JSON.stringify(value)}; expected one of ${allowed.join(', ')}`,
          ...(guess ? { hint: `did you mean '${guess}'?` } : {}),
        });
        break;
      }
      case 'const':
        push({ pointer: at, message: `${field(at)} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, not ${JSON.stringify(value)}` });
        break;
      case 'type':
        push({ pointer: at, message: `${field(at)} must be ${(e.params as { type: string }).type}, not ${describeType(value)}` });
        break;
      case 'pattern':
        push({ pointer: at, message: `${field(at)} ${JSON.stringify(value)} ${patternMeaning(e)}` });
        break;
      case 'discriminator': {
        if (errors.some((o) => o.instancePath === `${at}/type`)) break;
        push({ pointer: `${at}/type`, message: `${field(at)}.type must be one of postgres, http, kubernetes, mcp` });
        break;
      }
      case 'oneOf':
        // Only reached when no branch had a deeper error: say what the alternatives are.
        push({ pointer: at, message: `${field(at)} does not match any allowed form${describeOneOf(e)}` });
        break;
      default:
        push({ pointer: at, message: `${field(at)} ${e.message ?? 'is invalid'}` });
    }
  }
  return out;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function patternMeaning(e: ErrorObject): string {
  const description = (e.parentSchema as { description?: string } | undefined)?.description;
  return description ? `is not valid: ${description}` : `does not match ${(e.params as { pattern: string }).pattern}`;
}

function describeOneOf(e: ErrorObject): string {
  const d = (e.parentSchema as { description?: string } | undefined)?.description;
  return d ? ` (${d})` : '';
}

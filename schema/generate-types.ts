/**
 * Derives `schema/types.ts` from the JSON Schemas, so the TypeScript types are never written twice
 * by hand. Run `npm run schema:types` after editing a schema; a test fails when the file is stale.
 */
import { compile } from 'json-schema-to-typescript';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
export const documentSchemas = ['repository', 'target', 'identity', 'policy', 'invariant', 'policy-test'] as const;

export async function generateTypes(): Promise<string> {
  const parts: string[] = ['/* Generated from schema/*.schema.json by schema/generate-types.ts. Do not edit by hand. */'];
  for (const name of documentSchemas) {
    const schema = JSON.parse(await readFile(join(here, `${name}.schema.json`), 'utf8'));
    delete schema.$id; // let refs resolve against files in this folder
    const ts = await compile(schema, schema.title, {
      cwd: here,
      bannerComment: '',
      additionalProperties: false,
      declareExternallyReferenced: true,
      format: true,
      style: { singleQuote: true },
      strictIndexSignatures: true,
    });
    parts.push(ts.trim());
  }
  // Shared $defs appear once per schema that references them; keep the first declaration only.
  const seen = new Set<string>();
  const out: string[] = [];
  for (const block of parts.join('\n\n').split(/\n(?=export )/)) {
    const m = /^export (?:interface|type) (\w+)/.exec(block);
    if (m?.[1]) {
      if (seen.has(m[1])) continue;
      seen.add(m[1]);
    }
    out.push(block);
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(join(here, 'types.ts'), await generateTypes());
  console.log('wrote schema/types.ts');
}

#!/usr/bin/env node
// The installed `portcullis` command. The CLI is TypeScript run by tsx; tsx is registered here, from
// this package's own dependencies, so the command works in any folder (a policy repo has no tsx and
// no package.json of its own). The package's own tsconfig is named explicitly: tsx would otherwise
// read a tsconfig.json from the current folder, which in CI is the pull request's checkout.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../cli/portcullis.ts');

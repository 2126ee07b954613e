/**
 * The GitHub Actions workflow `portcullis init --ci github` writes into a standalone policy repo.
 *
 * Why it is shaped this way:
 * - pull_request_target: the workflow file, the CLI version and the token's rights come from the
 *   base branch, so a pull request (a fork's too) gets its comment and check run, and cannot edit the
 *   workflow that judges it. The price of that trigger is that nothing from the pull request may run:
 *   its files are read as policy data by the pinned CLI, installed from the registry with install
 *   scripts off; no npm install, script or action runs from the checkout, which keeps no credentials.
 * - Lint runs once per job. On pull requests its JSON feeds `portcullis ci github`, whose check run
 *   carries the annotations (one per finding); on pushes to the default branch the SARIF goes to code
 *   scanning. Both on one pull request would annotate every finding twice.
 * - Every action is pinned by commit SHA (the tag is a comment), the CLI by exact version.
 */

/** Actions the workflow uses, pinned by commit; the tag is for the reader and for Dependabot. */
export const pinnedActions = {
  checkout: { uses: 'actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1', tag: 'v7.0.1' },
  setupNode: { uses: 'actions/setup-node@820762786026740c76f36085b0efc47a31fe5020', tag: 'v7.0.0' },
  uploadSarif: { uses: 'github/codeql-action/upload-sarif@8aad20d150bbac5944a9f9d289da16a4b0d87c1e', tag: 'v4.36.2' },
} as const;

export interface WorkflowOptions {
  /** what `npm install -g` installs: `portcullis@1.2.3`, or a tarball URL */
  package: string;
  /** folder of portcullis.yaml, relative to the repo root ('.' when it is the root) */
  policyDir: string;
  /** the default branch: pushes to it upload SARIF to code scanning */
  branch: string;
}

const use = (a: { uses: string; tag: string }) => `${a.uses} # ${a.tag}`;

export function githubWorkflow(o: WorkflowOptions): string {
  const dir = o.policyDir.replace(/^\.\//, '').replace(/\/$/, '') || '.';
  const paths = dir === '.' ? '' : `\n    paths: ['${dir}/**']`;
  const install = `      - uses: ${use(pinnedActions.setupNode)}
        with:
          node-version: 20
      - name: install the pinned portcullis CLI (from the registry, install scripts off)
        run: npm install -g --ignore-scripts --no-audit --no-fund "$PORTCULLIS_PACKAGE"`;
  return `# Portcullis policy check, written by \`portcullis init --ci github\`.
#
# Pull requests (forks included) get one comment, updated in place, and a check run with one
# annotation per finding; the job fails when lint, the policy tests or the simulation against the
# base branch fail. Pushes to ${o.branch} upload lint's SARIF to code scanning.
#
# Safe for pull requests from forks: on pull_request_target the workflow, the CLI version and the
# safety configuration come from the base branch, and nothing from the pull request is executed:
# its files are only read, as policy data, by the pinned CLI. Keep it that way: never add a step
# that runs a script, an npm install or an action from the checkout.
name: portcullis

on:
  pull_request_target:
    types: [opened, synchronize, reopened]${paths}
  push:
    branches: [${o.branch}]${paths}

permissions: {}

env:
  PORTCULLIS_PACKAGE: ${o.package}
  POLICY_DIR: ${dir}

jobs:
  check:
    if: github.event_name == 'pull_request_target'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write   # the comment
      checks: write          # the check run and its annotations
    steps:
${install}
      - uses: ${use(pinnedActions.checkout)}
        with:
          ref: \${{ github.event.pull_request.head.sha }}
          fetch-depth: 0              # the simulation reads the base branch from history
          persist-credentials: false  # the token never sits in the pull request's checkout
      - name: lint
        run: portcullis lint "$POLICY_DIR" --format json > "$RUNNER_TEMP/portcullis-lint.json" || test -s "$RUNNER_TEMP/portcullis-lint.json"
      - name: report to the pull request
        env:
          GITHUB_TOKEN: \${{ secrets.GITHUB_TOKEN }}
          BASE_REF: \${{ github.base_ref }}
          # Recordings from outside the pull request (the gateway's GET /api/recordings, an artifact
          # store): set the repository variable PORTCULLIS_RECORDINGS to the URL, and the secret
          # PORTCULLIS_RECORDINGS_TOKEN if it needs one. Unset: the base branch's spec.recordings.
          PORTCULLIS_RECORDINGS: \${{ vars.PORTCULLIS_RECORDINGS }}
          PORTCULLIS_RECORDINGS_TOKEN: \${{ secrets.PORTCULLIS_RECORDINGS_TOKEN }}
        run: portcullis ci github "$POLICY_DIR" --base "origin/$BASE_REF" --seed "$GITHUB_RUN_ID" --lint "$RUNNER_TEMP/portcullis-lint.json" \${PORTCULLIS_RECORDINGS:+--recordings "$PORTCULLIS_RECORDINGS"}

  code-scanning:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write   # the SARIF upload
    steps:
${install}
      - uses: ${use(pinnedActions.checkout)}
        with:
          persist-credentials: false
      - name: lint
        run: portcullis lint "$POLICY_DIR" --format sarif > "$RUNNER_TEMP/portcullis.sarif" || test -s "$RUNNER_TEMP/portcullis.sarif"
      - uses: ${use(pinnedActions.uploadSarif)}
        with:
          sarif_file: \${{ runner.temp }}/portcullis.sarif
          category: portcullis
`;
}

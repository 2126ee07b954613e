/** Evidence per policy commit: the public surface of `portcullis evidence report`. */
export { buildEvidenceReport, type BuildEvidenceReportOptions } from './build.ts';
export { renderJson } from './json.ts';
export { renderHtml } from './html.ts';
export { GITHUB_CACHE_FILE } from './github-cache.ts';
export type { GithubOptions } from './github.ts';
export { REPORT_VERSION } from './types.ts';
export type * from './types.ts';

/** JSON: the whole report, stable field order, for machines (and `portcullis ci github --lint FILE`). */
export function json(report: unknown): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

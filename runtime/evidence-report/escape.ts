/**
 * Everything in the report came from the log or from GitHub: statement texts, PR titles and denial
 * reasons are attacker-influenced, so every value is escaped before it meets markup.
 */
const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => entities[c]!);
}

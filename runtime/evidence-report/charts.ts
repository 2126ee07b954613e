/**
 * The HTML report's two charts as inline SVG strings: no script, no font, no image file, so the
 * report renders the same offline, in a mail attachment, or printed to PDF.
 */
import type { Effect } from '../engine/decision.ts';
import { esc } from './escape.ts';
import type { CommitReport } from './types.ts';

export const effectColours: Record<Effect, string> = { allow: '#2e7d32', review: '#b7791f', deny: '#c62828' };
const EFFECTS: Effect[] = ['allow', 'review', 'deny'];

export const label = (c: CommitReport) => (c.commit ? c.commit.slice(0, 7) + (c.dirty ? '+dirty' : '') : c.key.slice(0, 24));

/** One horizontal bar per commit, stacked allow / review / deny, scaled to the busiest commit. */
export function decisionsChart(commits: readonly CommitReport[]): string {
  const rowH = 26;
  const left = 120;
  const width = 720;
  const barW = width - left - 80;
  const max = Math.max(1, ...commits.map((c) => c.decisions.total));
  const height = commits.length * rowH + 40;
  const rows = commits.map((c, i) => {
    const y = 10 + i * rowH;
    let x = left;
    const parts = EFFECTS.map((e) => {
      const n = c.decisions.byEffect[e];
      const w = (n / max) * barW;
      const rect =
        n > 0 ? `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(w, 0.5).toFixed(1)}" height="${rowH - 8}" fill="${effectColours[e]}"><title>${esc(`${label(c)}: ${n} ${e}`)}</title></rect>` : '';
      x += w;
      return rect;
    }).join('');
    return `<text x="${left - 8}" y="${y + rowH / 2}" text-anchor="end" class="mono">${esc(label(c))}</text>${parts}<text x="${(x + 6).toFixed(1)}" y="${y + rowH / 2}">${c.decisions.total}</text>`;
  });
  const legend = EFFECTS.map(
    (e, i) => `<rect x="${left + i * 90}" y="${height - 22}" width="12" height="12" fill="${effectColours[e]}"/><text x="${left + i * 90 + 16}" y="${height - 12}">${e}</text>`,
  ).join('');
  return `<svg role="img" aria-label="Decisions per commit by effect" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px">${rows.join('')}${legend}</svg>`;
}

/** When each commit served: one row per commit, one bar per live window, on a shared time axis. */
export function timelineChart(commits: readonly CommitReport[], end: string): string {
  const windows = commits.flatMap((c) => c.live.windows.map((w) => ({ c, from: Date.parse(w.from), to: Date.parse(w.to ?? end), open: w.to === undefined })));
  if (windows.length === 0) return '<p class="muted">No bundle.loaded records: the log does not say when any commit went live.</p>';
  const rowH = 24;
  const left = 120;
  const width = 720;
  const axisW = width - left - 40;
  const t0 = Math.min(...windows.map((w) => w.from));
  const t1 = Math.max(t0 + 1000, ...windows.map((w) => w.to));
  const xOf = (t: number) => left + ((t - t0) / (t1 - t0)) * axisW;
  const rowOf = new Map(commits.map((c, i) => [c.key, i]));
  const height = commits.length * rowH + 44;
  const labels = commits.map((c, i) => `<text x="${left - 8}" y="${14 + i * rowH + rowH / 2}" text-anchor="end" class="mono">${esc(label(c))}</text>`).join('');
  const bars = windows
    .map((w) => {
      const y = 14 + rowOf.get(w.c.key)! * rowH + 4;
      const x = xOf(w.from);
      const title = `${label(w.c)} live ${new Date(w.from).toISOString()} – ${w.open ? 'end of log (still live)' : new Date(w.to).toISOString()}`;
      return `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(2, xOf(w.to) - x).toFixed(1)}" height="${rowH - 8}" rx="3" fill="#3f51b5"${w.open ? ' fill-opacity="0.6"' : ''}><title>${esc(title)}</title></rect>`;
    })
    .join('');
  // Tick labels as precise as the span needs: days apart show dates, seconds apart show milliseconds.
  const span = t1 - t0;
  const tickText = (t: number) => {
    const iso = new Date(t).toISOString();
    return span < 60_000 ? iso.slice(11, 23) : span < 86_400_000 ? iso.replace('T', ' ').slice(0, 16) : iso.slice(0, 10);
  };
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const t = t0 + f * span;
      const x = left + f * axisW;
      return `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="10" y2="${height - 26}" stroke="#ddd"/><text x="${x.toFixed(1)}" y="${height - 10}" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}" class="small">${esc(tickText(t))}</text>`;
    })
    .join('');
  return `<svg role="img" aria-label="When each commit was live" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px">${ticks}${labels}${bars}</svg>`;
}

/**
 * Reads a V8 CPU profile (`node --cpu-prof`) of the gateway and says where its main thread spent
 * time, by concern: analysis, decision, evidence, masking, protocol, sockets. fsync runs on libuv's
 * thread pool and never shows here; the gateway child times that wait separately.
 *
 *   tsx bench/profile.ts FILE.cpuprofile
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fmt, table } from './report.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** First match wins: order from most to least specific. */
const concerns: [string, RegExp][] = [
  ['SQL analysis (libpg-query + analysis)', /runtime\/sql\/(analyze|ast|functions)|libpg-query/],
  ['mask safety + catalog', /runtime\/sql\/(mask-safety|catalog)/],
  ['decide (policy engine)', /runtime\/engine\//],
  ['evidence + recording (hashing, JSON, writes)', /runtime\/(evidence|recording)\//],
  ['masking + response pipeline', /runtime\/(masking\/|postgres\/gateway\/(responses|mask-plan|exec-context))/],
  ['protocol parse/serialize', /runtime\/postgres\/protocol\//],
  ['session (routing, timers)', /runtime\/postgres\/gateway\/session/],
  ['other gateway code', /runtime\//],
  ['socket + stream I/O (node:net, streams)', /node:(net|stream|internal\/(streams|stream_base_commons|net))/],
  ['crypto (node:crypto)', /node:(crypto|internal\/crypto)/],
  ['fs (node:fs)', /node:(fs|internal\/fs)/],
  ['timers, promises, event loop', /node:(internal\/(timers|process\/task_queues|async_hooks)|timers)/],
  ['other node internals', /^node:/],
  ['other dependencies', /node_modules/],
];

function concernOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle (waiting: network, fsync)';
  if (functionName === '(program)') return 'native / VM (program)';
  if (!url) return functionName === 'writev' || functionName === 'writeBuffer' || functionName === 'writeUtf8String' ? 'socket + stream I/O (node:net, streams)' : 'native builtins';
  for (const [name, re] of concerns) if (re.test(url)) return name;
  return 'other';
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  byConcern: { concern: string; ms: number; share: number }[];
  topFunctions: { fn: string; ms: number; share: number }[];
}

export function summarise(p: CpuProfile): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  const concern = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    total += ms;
    const c = concernOf(n.callFrame);
    concern.set(c, (concern.get(c) ?? 0) + ms);
    const where = n.callFrame.url.replace(/^.*\/(runtime|node_modules)\//, '$1/').replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where ? `${where}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  const idle = concern.get('idle (waiting: network, fsync)') ?? 0;
  const busy = total - idle;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    busyMs: busy,
    byConcern: sorted(concern).map(([c, ms]) => ({ concern: c, ms, share: c.startsWith('idle') ? NaN : ms / busy })),
    topFunctions: sorted(fns)
      .filter(([k]) => !k.startsWith('(idle)'))
      .slice(0, 20)
      .map(([fn, ms]) => ({ fn, ms, share: ms / busy })),
  };
}

export function formatProfile(s: ProfileSummary, statements?: number): string {
  const per = (ms: number) => (statements ? fmt((ms * 1000) / statements, 1) : '-');
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '');
  return [
    `gateway main thread: ${fmt(s.totalMs)} ms sampled, ${fmt(s.busyMs)} ms busy${statements ? `, ${fmt(statements)} statements` : ''}`,
    table(
      ['concern', 'self ms', 'share of busy', 'µs/statement'],
      s.byConcern.map((c) => [c.concern, fmt(c.ms), pct(c.share), per(c.ms)]),
    ),
    '',
    table(
      ['top functions (self time)', 'ms', 'share'],
      s.topFunctions.map((f) => [f.fn, fmt(f.ms), pct(f.share)]),
    ),
  ].join('\n');
}

export async function latestProfile(dir: string): Promise<string | undefined> {
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread; tsx's loader
  // runs in a worker thread that writes a profile of its own.
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)).sort();
  return files.length ? join(dir, files[files.length - 1]!) : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts FILE.cpuprofile [STATEMENTS]\n');
    process.exit(2);
  }
  const summary = summarise(JSON.parse(await readFile(file, 'utf8')) as CpuProfile);
  process.stdout.write(`${formatProfile(summary, process.argv[3] ? Number(process.argv[3]) : undefined)}\n`);
}

/**
 * Per-stage CPU µs per request for the HTTP bench's children (the gateway and the bare Node.js
 * proxy). A child samples its own main thread with the inspector while wrk runs against one path;
 * each sample goes to the innermost frame of gateway code on its stack (so node:crypto under the
 * masker is masking, a socket write under respond.ts is respond), or, with no gateway frame at all,
 * to what Node.js was doing (parsing requests, socket I/O). Dividing by wrk's request count gives
 * µs per request, comparable between rows of one run even on a busy machine where RPS is not.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Innermost match wins; order matters only between patterns that can match the same frame. */
const GATEWAY_STAGES: [string, RegExp][] = [
  ['token verify + identity', /\/runtime\/identity\/|node_modules\/jose\//],
  ['admit + route', /\/runtime\/http-transport\/front\.ts/],
  ['decide', /\/runtime\/(engine|requests)\//],
  ['record (evidence)', /\/runtime\/(evidence|recording|encoding)\/|\/runtime\/http-transport\/session\.ts|\/runtime\/exchange\/(results|encoded)\.ts/],
  ['mask', /\/runtime\/(http-transport\/masking|masking)\//],
  ['respond', /\/runtime\/http-transport\/respond\.ts/],
  ['forward (undici)', /\/runtime\/http-transport\/(forward|upstream)\.ts|node_modules\/undici\//],
  ['headers', /\/runtime\/http-transport\/headers\.ts/],
  ['pipeline glue (proxy, listener)', /\/runtime\/(http-transport|protocols\/http|exchange)\/|\/bench\/http-proxy-child\.ts/],
  ['other gateway code', /\/runtime\//],
];

/** For samples with no gateway frame: what the event loop was doing. */
const NODE_STAGES: [string, RegExp][] = [
  ['node:http (parse, write)', /^node:(_http_|http$|internal\/http)/],
  ['sockets + streams', /^node:(net|stream|internal\/(streams|stream_base_commons|net))/],
  ['timers, promises, event loop', /^node:(internal\/(timers|process\/task_queues|async_hooks)|timers)/],
  ['fs', /^node:(fs|internal\/fs)/],
];

const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String']);

export const STAGE_ORDER = ['socket write syscalls', ...GATEWAY_STAGES.map(([s]) => s), ...NODE_STAGES.map(([s]) => s), 'other node internals', 'native (no JS frame)', 'garbage collection'];

export type StageMicros = Record<string, number>;

function stageOf(leaf: ProfileNode, parent: Map<number, ProfileNode>): string | undefined {
  const fn = leaf.callFrame.functionName;
  if (fn === '(idle)') return undefined;
  if (fn === '(garbage collector)') return 'garbage collection';
  // the write syscall lands under whoever called end(): respond.ts for a masked body, a stream
  // callback for a piped one; kept apart so the two paths compare
  if (!leaf.callFrame.url && SOCKET_WRITES.has(fn)) return 'socket write syscalls';
  for (let n: ProfileNode | undefined = leaf; n; n = parent.get(n.id)) {
    // the sampler's own start and stop are not the request's
    if (n.callFrame.url.endsWith('/bench/http-stages.ts')) return undefined;
    for (const [stage, re] of GATEWAY_STAGES) if (re.test(n.callFrame.url)) return stage;
  }
  for (let n: ProfileNode | undefined = leaf; n; n = parent.get(n.id)) {
    for (const [stage, re] of NODE_STAGES) if (re.test(n.callFrame.url)) return stage;
  }
  return leaf.callFrame.url.startsWith('node:') ? 'other node internals' : 'native (no JS frame)';
}

/** Busy ms by stage (idle left out). */
export function stagesOf(p: CpuProfile): Record<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const memo = new Map<number, string | undefined>();
  const out: Record<string, number> = {};
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    if (!memo.has(id)) memo.set(id, stageOf(byId.get(id)!, parent));
    const stage = memo.get(id);
    if (stage !== undefined) out[stage] = (out[stage] ?? 0) + (p.timeDeltas[i] ?? 0) / 1000;
  }
  return out;
}

/**
 * Inside a bench child: `profile start` / `profile stop` lines on stdin start and stop sampling;
 * the stop answers with one JSON line of busy ms by stage. `cpu` answers the process's CPU time.
 */
export function serveStageProfiler(input: NodeJS.ReadableStream, write: (line: string) => void): void {
  const session = new Session();
  session.connect();
  let buffered = '';
  let rounds = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  input.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      void command(line).then(write, (e: Error) => write(JSON.stringify({ error: e.message })));
    }
  });
  async function command(line: string): Promise<string> {
    if (line === 'cpu') {
      const cpu = process.cpuUsage();
      return JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000 });
    }
    if (line === 'profile start') {
      await session.post('Profiler.enable');
      if (rounds === 0) {
        // the first start of a process pays for the profiler's own set-up (code maps, garbage):
        // paid here, outside the sampled round
        await session.post('Profiler.start');
        await session.post('Profiler.stop');
      }
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
      // BENCH_HTTP_HEAP_DUMP=DIR: allocations by function as well, garbage included (what the GC stage pays for)
      if (process.env.BENCH_HTTP_HEAP_DUMP) {
        await session.post('HeapProfiler.enable');
        await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
      }
      cpuAtStart = process.cpuUsage();
      return JSON.stringify({ started: true });
    }
    if (line === 'profile stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
      await session.post('Profiler.disable');
      // BENCH_HTTP_STAGE_DUMP=DIR keeps each sampled round's profile (read with bench/profile.ts)
      const dump = process.env.BENCH_HTTP_STAGE_DUMP;
      rounds++;
      const heapDump = process.env.BENCH_HTTP_HEAP_DUMP;
      if (heapDump) {
        const { profile: heap } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: unknown };
        await writeFile(join(heapDump, `stages.${process.pid}.${rounds}.heapprofile`), JSON.stringify(heap));
      }
      if (dump) await writeFile(join(dump, `stages.${process.pid}.${rounds}.cpuprofile`), JSON.stringify(profile));
      // CPU time (user + system, all threads) moves less with busy neighbours than the sampled wall time
      return JSON.stringify({ stages: stagesOf(profile), cpuMs: (cpu.user + cpu.system) / 1000 });
    }
    throw new Error(`unknown command ${JSON.stringify(line)}`);
  }
}

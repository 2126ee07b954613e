/**
 * Hot reload of a policy folder: chokidar reports changes, a debounce waits for an editor or a
 * `git checkout` to finish writing, then the caller loads and swaps (or keeps the last good bundle).
 */
import { watch, type FSWatcher } from 'chokidar';

export interface PolicyWatcher {
  close(): Promise<void>;
}

export function watchPolicies(dir: string, onChange: () => Promise<unknown>, opts: { debounceMs?: number } = {}): PolicyWatcher {
  const debounceMs = opts.debounceMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let again = false;
  const fire = () => {
    timer = undefined;
    if (running) {
      // A change during a reload gets its own reload after it: the last write always wins.
      again = true;
      return;
    }
    running = onChange()
      .catch(() => {})
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
  };
  const schedule = () => {
    if (timer) timer.refresh();
    else timer = setTimeout(fire, debounceMs);
  };
  const watcher: FSWatcher = watch(dir, {
    ignoreInitial: true,
    ignored: (path: string) => /(^|\/)(node_modules|\.git|\.portcullis)(\/|$)/.test(path),
    awaitWriteFinish: false,
  });
  watcher.on('all', (_event, path) => {
    if (/\.ya?ml$/.test(path) || _event === 'unlinkDir' || _event === 'addDir') schedule();
  });
  return {
    async close() {
      if (timer) clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}

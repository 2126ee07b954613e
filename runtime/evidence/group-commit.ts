/**
 * Group commit, shared by the file and the PostgreSQL evidence stores: appends that arrive while a
 * batch is being written, or in the same turn of the event loop, go out together as the next batch
 * (one write and one flush for many decisions).
 */
export interface Pending {
  type: string;
  ts: string;
  dataJson: string;
  resolve: (value: { seq: number; hash: string }) => void;
  reject: (error: unknown) => void;
  /** the record reached the operating system (file store, durability staging) */
  written?: ((value: { seq: number; hash: string }) => void) | undefined;
  /** v2 stores: member path -> a value (encoded) written once as a fact and referenced */
  refs: Readonly<Record<string, { readonly json: string }>> | undefined;
  /** v2 stores: canonical JSON array of results folded into this record */
  res: string | undefined;
}

export interface GroupCommitOptions {
  /** wait this long to gather a batch; 0 gathers what this turn of the event loop appended */
  windowMs: number;
  /** writes one batch (possibly empty, for a checkpoint); resolves or rejects every entry itself */
  write(batch: Pending[]): Promise<void>;
  /** after a failed checkpoint-only batch the loop stops; the store's timer retries later */
  healthy(): boolean;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  /** a checkpoint is to be written with the next batch, even an empty one */
  private checkpoint = false;

  constructor(private readonly opts: GroupCommitOptions) {}

  add(type: string, dataJson: string, written?: Pending['written'], refs?: Pending['refs'], res?: string): Promise<{ seq: number; hash: string }> {
    return new Promise((resolve, reject) => {
      // A literal, not a spread: spreading into an object with more members is a slow path in V8,
      // and this runs for every statement.
      this.pending.push({ type, ts: new Date().toISOString(), dataJson, resolve, reject, written, refs, res });
      this.schedule();
    });
  }

  requestCheckpoint(): void {
    this.checkpoint = true;
    this.schedule();
  }

  /** Whether this batch should carry a checkpoint; asking clears the request. */
  takeCheckpoint(): boolean {
    const wanted = this.checkpoint;
    this.checkpoint = false;
    return wanted;
  }

  /** A batch whose checkpoint could not be written asks for it again. */
  retryCheckpoint(): void {
    this.checkpoint = true;
  }

  async idle(): Promise<void> {
    while (this.flushing || this.scheduled) {
      if (this.flushing) await this.flushing;
      else await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // Without a window, a batch is whatever was appended in this turn of the event loop (and, while a
    // batch is written, everything appended meanwhile): setImmediate runs once the I/O callbacks of
    // this poll phase are done, so statements of several sessions that arrived together share one
    // write, at the cost of no timer wait for a lone statement.
    if (this.opts.windowMs > 0) setTimeout(this.run, this.opts.windowMs);
    else setImmediate(this.run);
  }

  /** Bound once: a closure made per batch would cost a defineProperty each (tsx keeps names). */
  private readonly run = (): void => {
    this.scheduled = false;
    this.flushing = this.loop().finally(this.looped);
  };

  private readonly looped = (): void => {
    this.flushing = undefined;
    // appends, or a checkpoint request, that arrived after the loop's last check: a request made
    // while `flushing` was still set did not schedule, and would otherwise be lost (a store closing
    // right after an append then left its tail unsigned). A checkpoint that just failed is left to
    // the store's timer, as the loop leaves it: retrying it here would spin on a broken disk.
    if (this.pending.length > 0 || (this.checkpoint && this.opts.healthy())) this.schedule();
  };

  private async loop(): Promise<void> {
    while (this.pending.length > 0 || this.checkpoint) {
      const batch = this.pending.splice(0);
      await this.opts.write(batch);
      if (batch.length === 0 && !this.opts.healthy()) break;
    }
  }
}

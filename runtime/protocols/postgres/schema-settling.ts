/**
 * Schema changes this session forwarded that the catalog cannot see yet (in flight, or inside an
 * open transaction): until the ReadyForQuery that ends them reports idle, relations the catalog does
 * not know are refused under masks. Counted in ReadyForQuery messages asked for (a Query or a Sync
 * sent) and received.
 */
export class SchemaSettling {
  private asked = 0;
  private seen = 0;
  /** the ReadyForQuery that settles the change; 0: settled; Infinity: the next Sync's */
  private until = 0;
  private syncPending = false;

  get settled(): boolean {
    return this.until === 0;
  }

  /** a Query or Sync went to the backend: one more ReadyForQuery will come */
  readyAsked(): void {
    this.asked++;
  }

  /** a Query the backend skipped (a failed guard): its ReadyForQuery will not come */
  readyNotComing(): void {
    this.asked--;
  }

  /** a Sync from the client: it ends an extended-protocol change */
  syncSent(): void {
    this.asked++;
    if (this.syncPending) {
      this.syncPending = false;
      this.until = this.asked;
    }
  }

  /** A DDL or admin statement is being forwarded: the catalog is unsettled until it commits. */
  changing(extended: boolean): void {
    if (extended) {
      this.until = Infinity;
      this.syncPending = true;
    } else {
      this.until = this.asked + 1;
    }
  }

  /** A ReadyForQuery arrived; true when it settled a change (committed: the catalog must reload). */
  ready(status: string): boolean {
    this.seen++;
    if (this.until > 0 && this.seen >= this.until && status === 'I') {
      this.until = 0;
      return true;
    }
    return false;
  }
}

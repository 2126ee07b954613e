/**
 * One dedicated LISTEN connection per replica: a pooled connection cannot listen, because the pool
 * hands it to someone else between queries. Notifications sent while the connection is down are
 * lost, so after every reconnect `onReconnect` runs and waiters re-read what they wait for.
 */
import pg from 'pg';

export interface ListenerOptions {
  url: string;
  channel: string;
  /** client settings shared with the store's pool (timeouts, application_name) */
  client: Omit<pg.ClientConfig, 'connectionString'>;
  onNotify: (payload: string) => void;
  onReconnect: () => void;
  log: (event: string, fields?: Record<string, unknown>) => void;
  retryMs?: number;
}

export class NotifyListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private everConnected = false;

  constructor(private readonly opts: ListenerOptions) {}

  connected(): boolean {
    return this.client !== undefined;
  }

  /** Resolves once listening, or after the first failure (a retry is then scheduled). */
  async start(): Promise<void> {
    if (this.closed || this.client) return;
    const client = new pg.Client({ connectionString: this.opts.url, ...this.opts.client });
    client.on('notification', (m) => {
      if (m.channel === this.opts.channel && m.payload) this.opts.onNotify(m.payload);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the LISTEN connection closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.opts.channel)}`);
    } catch (error) {
      void client.end().catch(() => undefined);
      this.lost(client, error);
      return;
    }
    if (this.closed) {
      void client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    if (this.everConnected) this.opts.onReconnect();
    this.everConnected = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== undefined && this.client !== client) return; // an old connection's late goodbye
    this.client = undefined;
    if (this.closed || this.retry) return;
    this.opts.log('approvals.listen.lost', { error: String((error as Error)?.message ?? error) });
    // A first failure also counts as "reconnect" later: waiters may have missed a notification.
    this.everConnected = true;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, this.opts.retryMs ?? 1000);
    this.retry.unref();
  }
}

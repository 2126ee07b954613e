/**
 * The backend -> agent half of a session. Every backend message is matched against the response
 * the gateway expects next (a FIFO of slots, one per forwarded message), so the gateway always knows
 * which statement a row belongs to, which columns to mask, and which errors are its own refusals.
 */
import { lexingHazard } from './lexing.ts';
import type { BackendFrame } from './wire/backend.ts';
import { decodeCommandComplete, decodeDataRow, decodeErrorFields, decodeParameterStatus, decodeRowDescription } from './wire/backend.ts';
import { commandComplete, errorResponse, noticeResponse, type ErrorFields } from './wire/serialize.ts';
import { PortcullisError } from '../../errors.ts';
import { scrubText } from '../../masking/detectors.ts';
import type { Catalog } from '../../sql/catalog.ts';
import type { ExecContext, Slot } from './exec-context.ts';
import { maskRow, planFor, sampleRow, type ColumnMasks, type MaskPlan } from './mask-plan.ts';
import type { OutputMask } from '../../sql/mask-safety.ts';
import { SAMPLE_ROWS } from '../../recording/format.ts';

export interface ResponseSink {
  toClient(buf: Buffer): void;
  /** a statement finished: record its result (not awaited: the agent already has the rows) */
  finished(exec: ExecContext, status: 'ok' | 'error', error?: { code: string; message: string }): void;
  copyIn(active: boolean): void;
  transactionStatus(status: string): void;
  /** the backend sent a FATAL (or PANIC) error: it closes next, and the client already has the reason */
  backendFatal(): void;
  /**
   * The catalog guard answered: passed, or failed (the statements behind it up to the next Sync were
   * skipped; `syncNeeded`: none was sent yet, the gateway must send one).
   */
  guard(passed: boolean, syncNeeded: boolean): void;
  /** the ReadyForQuery of a swallowed Sync arrived: the backend is idle again */
  swallowedReady(): void;
}

export class ResponsePipeline {
  private readonly slots: Slot[] = [];
  private head = 0;
  /** whether masks are in force on this target: then error details are withheld */
  masksActive = false;

  constructor(
    private readonly catalog: () => Promise<Catalog>,
    /** the catalog as last loaded, if it was: plans made under it are reused without waiting */
    private readonly loadedCatalog: () => Catalog | undefined,
    private readonly maskKey: Buffer,
    private readonly sink: ResponseSink,
  ) {}

  expect(slot: Slot): void {
    this.slots.push(slot);
  }

  get pending(): number {
    return this.slots.length - this.head;
  }

  private current(): Slot | undefined {
    return this.slots[this.head];
  }

  private pop(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
  }

  private unexpected(frame: BackendFrame, slot: Slot | undefined): never {
    throw new PortcullisError('internal', `backend sent ${frame.type} while the gateway expected a response to ${slot?.kind ?? 'nothing'}`);
  }

  /**
   * One backend message. A promise only while a result's mask plan needs the catalog (a shape or
   * a row description not seen under this catalog yet); every other message is handled at once.
   */
  handle(frame: BackendFrame): void | Promise<void> {
    // Messages the backend may send at any time.
    switch (frame.type) {
      case 'NoticeResponse':
        this.sink.toClient(this.scrubbed('N', frame.body));
        return;
      case 'ParameterStatus': {
        const setting = decodeParameterStatus(frame.body);
        const hazard = lexingHazard(setting.name, setting.value);
        if (hazard) {
          throw new PortcullisError('failed_precondition', `${hazard}: the gateway would no longer parse queries the way the backend reads them, so the session ends`, {
            details: { hint: 'reconnect; do not change client_encoding or standard_conforming_strings through the gateway' },
          });
        }
        this.sink.toClient(frame.raw);
        return;
      }
      case 'NotificationResponse':
        this.sink.toClient(frame.raw);
        return;
      default:
    }
    const slot = this.current();
    if (frame.type === 'ErrorResponse') {
      const fields = decodeErrorFields(frame.body);
      const severity = fields.get('V') ?? fields.get('S');
      if (severity === 'FATAL' || severity === 'PANIC') {
        // A terminated backend (pg_terminate_backend, a fast shutdown) says why, busy or idle:
        // relayed as PostgreSQL sent it, and the session ends when the backend closes.
        this.sink.backendFatal();
        if (!slot) return this.sink.toClient(this.scrubbed('E', frame.body, fields));
      }
      if (!slot) this.unexpected(frame, slot);
      return this.error(frame, slot, fields);
    }
    if (!slot) this.unexpected(frame, slot);
    if (frame.type === 'ReadyForQuery') {
      if (slot.kind !== 'sync' && slot.kind !== 'query' && !(slot.kind === 'refused' && !slot.extended)) this.unexpected(frame, slot);
      this.pop();
      if (slot.kind === 'sync' && slot.swallow) return this.sink.swallowedReady();
      this.sink.transactionStatus(String.fromCharCode(frame.body[0] ?? 73));
      this.sink.copyIn(false);
      this.sink.toClient(frame.raw);
      return;
    }
    switch (slot.kind) {
      case 'parse':
      case 'bind':
      case 'close': {
        const want = slot.kind === 'parse' ? 'ParseComplete' : slot.kind === 'bind' ? 'BindComplete' : 'CloseComplete';
        if (frame.type !== want) this.unexpected(frame, slot);
        this.pop();
        if (!slot.swallow) this.sink.toClient(frame.raw);
        return;
      }
      case 'guard':
        // Close and Parse of the guard's statement, its Bind and its one row: the gateway's own.
        if (frame.type === 'CloseComplete' || frame.type === 'ParseComplete' || frame.type === 'BindComplete' || frame.type === 'DataRow') return;
        if (frame.type !== 'CommandComplete') this.unexpected(frame, slot);
        this.pop();
        this.sink.guard(true, false);
        return;
      case 'describe':
        if (frame.type === 'ParameterDescription' && slot.statement) return this.sink.toClient(frame.raw);
        if (frame.type !== 'RowDescription' && frame.type !== 'NoData') this.unexpected(frame, slot);
        this.pop();
        this.sink.toClient(frame.raw);
        return;
      case 'shape':
        if (frame.type === 'ParameterDescription') return;
        if (frame.type === 'RowDescription') {
          slot.shape.fields = decodeRowDescription(frame.body);
          slot.shape.description = frame.body.toString('latin1');
        } else if (frame.type === 'NoData') slot.shape.fields = null;
        else this.unexpected(frame, slot);
        this.pop();
        return;
      case 'execute': {
        const exec = slot.exec;
        if (frame.type === 'DataRow' && !exec.plan && exec.shape) {
          const plan = this.shapePlan(exec);
          if (plan instanceof Promise) {
            return plan.then((p) => {
              exec.plan = p;
              this.result(frame, exec, slot);
            });
          }
          exec.plan = plan;
        }
        return this.result(frame, exec, slot);
      }
      case 'query': {
        const exec = slot.statements[slot.index];
        // A query string with no statement in it ('', ';', a comment): PostgreSQL's answer.
        if (!exec && frame.type === 'EmptyQueryResponse' && slot.statements.length === 0) return this.sink.toClient(frame.raw);
        if (!exec) this.unexpected(frame, slot);
        if (frame.type === 'RowDescription') {
          const plan = this.rowPlan(frame, exec);
          if (plan instanceof Promise) {
            return plan.then((p) => {
              exec.plan = p;
              this.sink.toClient(frame.raw);
            });
          }
          exec.plan = plan;
          this.sink.toClient(frame.raw);
          return;
        }
        return this.result(frame, exec, slot);
      }
      default:
        this.unexpected(frame, slot);
    }
  }

  /** The plan of an Execute from its statement's columns and the portal's result formats. */
  private shapePlan(exec: ExecContext): MaskPlan | Promise<MaskPlan> {
    const shape = exec.shape!;
    const fields = shape.fields;
    if (!fields) {
      // Rows from a statement whose columns were never learnt: nothing proves them safe.
      throw new PortcullisError('internal', 'rows arrived for a statement the gateway could not describe');
    }
    const formats = exec.resultFormats ?? [];
    const key = formats.join(',');
    shape.plans ??= new WeakMap();
    let byFormats = shape.plans.get(exec.masks);
    if (!byFormats) shape.plans.set(exec.masks, (byFormats = new Map()));
    const hit = byFormats.get(key);
    if (hit) return hit;
    // A statement parsed again (the unnamed one, every time for most drivers) has a new shape but
    // the same description: its plan is shared across shapes like a simple query's.
    const described = shape.description === undefined ? undefined : `s${key}|${shape.description}`;
    const shared = described === undefined ? undefined : this.keptPlan(exec, described);
    if (shared) {
      byFormats.set(key, shared);
      return shared;
    }
    const withFormats = fields.map((f, i) => ({ ...f, format: formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[i] ?? 0) }));
    const cache = byFormats;
    return this.catalog().then(async (catalog) => {
      const version = catalog.version;
      const plan = await planFor(withFormats, catalog, exec.masks, exec.outputMasks);
      cache.set(key, plan);
      if (described !== undefined) this.keepPlan(exec, described, catalog, version, plan);
      return plan;
    });
  }

  /** A plan made for these masks, output masks and description under the catalog as loaded now. */
  private keptPlan(exec: ExecContext, key: string): MaskPlan | undefined {
    const hit = this.rowPlans.get(exec.masks)?.get(key);
    const catalog = this.loadedCatalog();
    return hit && catalog && hit.catalog === catalog && hit.version === catalog.version && hit.outputMasks === exec.outputMasks ? hit.plan : undefined;
  }

  /** Keep a plan for the catalog it was made under; a refresh while it was made makes the next one anew. */
  private keepPlan(exec: ExecContext, key: string, catalog: Catalog, version: number, plan: MaskPlan): void {
    if (catalog.version !== version) return;
    let byDescription = this.rowPlans.get(exec.masks);
    if (!byDescription) this.rowPlans.set(exec.masks, (byDescription = new Map()));
    if (byDescription.size >= 256) byDescription.clear();
    byDescription.set(key, { catalog, version, outputMasks: exec.outputMasks, plan });
  }

  /**
   * The plan of a simple query's result from its RowDescription. The same statement sends the same
   * description every time: its plan is kept per mask set, output masks and catalog version.
   */
  private rowPlan(frame: BackendFrame, exec: ExecContext): MaskPlan | Promise<MaskPlan> {
    const key = `q${frame.body.toString('latin1')}`;
    const kept = this.keptPlan(exec, key);
    if (kept) return kept;
    return this.catalog().then(async (catalog) => {
      const version = catalog.version;
      const plan = await planFor(decodeRowDescription(frame.body), catalog, exec.masks, exec.outputMasks);
      this.keepPlan(exec, key, catalog, version, plan);
      return plan;
    });
  }

  private readonly rowPlans = new WeakMap<ColumnMasks, Map<string, { catalog: Catalog; version: number; outputMasks: readonly OutputMask[] | undefined; plan: MaskPlan }>>();

  /** Rows, completion and COPY of one statement (extended Execute, or one statement of a Query). */
  private result(frame: BackendFrame, exec: ExecContext, slot: Slot): void {
    switch (frame.type) {
      case 'DataRow': {
        exec.rows++;
        if (exec.maxRows !== undefined && (exec.budget ? ++exec.budget.rows : exec.rows) > exec.maxRows) {
          exec.truncated = true;
          return;
        }
        exec.delivered++;
        const plan = exec.plan;
        if (!plan || plan.masked.length === 0) {
          if (exec.sample.length < SAMPLE_ROWS && plan) {
            exec.sample.push(sampleRow(decodeDataRow(frame.body), plan.fields));
          }
          this.sink.toClient(frame.raw);
          return;
        }
        const { row, values, count } = maskRow(frame.raw, plan, this.maskKey);
        exec.maskedValues += count;
        if (exec.sample.length < SAMPLE_ROWS) exec.sample.push(sampleRow(values, plan.fields));
        this.sink.toClient(row);
        return;
      }
      case 'CommandComplete': {
        let out = frame.raw;
        if (exec.truncated) {
          const rule = exec.decision.rules.map((r) => `${r.policy}/${r.rule}`).join(', ');
          const of = exec.budget ? exec.budget.rows : exec.rows;
          this.sink.toClient(
            noticeResponse({
              severity: 'WARNING',
              code: '01000',
              message: `portcullis: result truncated to ${exec.maxRows} of ${of} rows by maxRows of rule ${rule}`,
              hint: 'narrow the query with WHERE or LIMIT',
            }),
          );
          const tag = decodeCommandComplete(frame.body).replace(/\d+$/, String(exec.delivered));
          out = commandComplete(tag);
        }
        this.sink.toClient(out);
        this.complete(exec, slot, 'ok');
        return;
      }
      case 'EmptyQueryResponse':
      case 'PortalSuspended':
        this.sink.toClient(frame.raw);
        this.complete(exec, slot, 'ok');
        return;
      case 'CopyInResponse':
        this.sink.copyIn(true);
        this.sink.toClient(frame.raw);
        return;
      case 'CopyOutResponse':
      case 'CopyData':
      case 'CopyDone':
        this.sink.toClient(frame.raw);
        return;
      default:
        this.unexpected(frame, slot);
    }
  }

  private complete(exec: ExecContext, slot: Slot, status: 'ok' | 'error', error?: { code: string; message: string }): void {
    this.sink.finished(exec, status, error);
    if (slot.kind === 'query') slot.index++;
    else this.pop();
  }

  private error(frame: BackendFrame, slot: Slot, decoded?: Map<string, string>): void {
    if (slot.kind === 'guard') {
      // The catalog moved (or the guard's statement is gone): the backend skips to the next Sync.
      this.pop();
      this.skipToSync();
      const sync = this.current();
      if (sync?.kind === 'sync') sync.swallow = true;
      this.sink.guard(false, sync === undefined);
      return;
    }
    if (slot.kind === 'refused') {
      this.sink.toClient(slot.error);
      if (slot.extended) {
        this.pop();
        this.skipToSync();
      } else {
        // The ReadyForQuery that ends this simple-query cycle is still to come.
        this.slots[this.head] = { kind: 'sync' };
      }
      return;
    }
    const fields = decoded ?? decodeErrorFields(frame.body);
    this.sink.toClient(this.scrubbed('E', frame.body, fields));
    const error = { code: fields.get('C') ?? 'XX000', message: fields.get('M') ?? '' };
    if (slot.kind === 'query') {
      const exec = slot.statements[slot.index];
      if (exec) this.complete(exec, slot, 'error', error);
      return; // a simple Query ends with ReadyForQuery, which pops the slot
    }
    if (slot.kind === 'execute') this.sink.finished(slot.exec, 'error', error);
    if (slot.kind === 'sync') return; // e.g. a failed COMMIT at Sync
    this.skipToSync();
  }

  /** After an error in extended protocol the backend ignores everything until Sync. */
  private skipToSync(): void {
    // Skipped statements never ran: their decision records stand alone, with no result record.
    while (this.current() && this.current()!.kind !== 'sync') {
      const skipped = this.current()!.kind;
      this.pop();
      // A guard behind a failed Parse or Bind never ran, nor did its statement: the client has the
      // error, there is nothing to send again, and messages waiting behind the guard may go on.
      if (skipped === 'guard') this.sink.guard(true, false);
    }
  }

  /**
   * Backend errors and notices can quote data ("Key (email)=(ada@…) already exists", "Failing row
   * contains (…)"). Content detectors scrub every text field; while masks are in force the detail,
   * which is where rows are quoted, is withheld entirely.
   */
  private scrubbed(code: 'E' | 'N', body: Buffer, decoded?: Map<string, string>): Buffer {
    const fields = decoded ?? decodeErrorFields(body, code === 'E' ? 'ErrorResponse' : 'NoticeResponse');
    const text = (tag: string) => {
      const v = fields.get(tag);
      return v === undefined ? undefined : scrubText(v).text;
    };
    const severity = (fields.get('V') ?? fields.get('S') ?? 'ERROR') as ErrorFields['severity'];
    const out: ErrorFields = { severity, code: fields.get('C') ?? 'XX000', message: text('M') ?? '' };
    const detail = this.masksActive && fields.has('D') ? 'detail withheld by portcullis: it may quote classified values' : text('D');
    if (detail !== undefined) out.detail = detail;
    const hint = text('H');
    if (hint !== undefined) out.hint = hint;
    const extra: Record<string, string> = {};
    for (const [tag, value] of fields) {
      if ('SVCMDH'.includes(tag)) continue;
      // internal query and where-context can carry values too
      extra[tag] = tag === 'q' || tag === 'W' ? scrubText(value).text : value;
    }
    out.extra = extra;
    return code === 'E' ? errorResponse(out) : noticeResponse(out);
  }
}

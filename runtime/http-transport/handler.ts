/**
 * What the one HTTP listener (listener.ts) needs from a protocol adapter, so it can route a request
 * to the adapter of its target's type without importing any: the composition root hands it one
 * handler factory per target type (runtime/gateway/http-listener.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Target } from '../../schema/types.ts';
import type { ListenerContext } from './context.ts';
import type { Admitted, Routed } from './front.ts';
import type { ErrorFormat } from './refusal.ts';
import type { RecordedExchange } from './session.ts';
import type { Dispatchers } from './upstream.ts';

/** What every request handler shares for the listener's life. */
export interface ProxyEnv {
  dispatchers: Dispatchers;
  /** the gateway's masking key: hashes are keyed so they cannot be reversed by guessing */
  maskKey: Buffer;
}

/** What a handler tells the listener about one exchange, for its result record. */
export interface ExchangeState {
  exchange?: RecordedExchange;
  maskedValues: number;
}

export interface TargetHandler {
  /** how refusals to a target of this type are written; problem documents when absent */
  errorFormat?: ErrorFormat;
  /** one request, admitted by the listener (live bundle, bearer token, an HTTP or Kubernetes target) */
  request?(req: IncomingMessage, res: ServerResponse, admitted: Admitted, state: ExchangeState): Promise<void>;
  /**
   * One request the handler admits and records itself, given only its route: an MCP session spans
   * many requests, so its endpoint authenticates and records its own decisions and results.
   */
  routed?(req: IncomingMessage, res: ServerResponse, routed: Routed): Promise<void>;
  /** an upgrade request (exec, attach); without it, a target of this type is not upgraded */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, admitted: Admitted, state: ExchangeState): Promise<{ status: number }>;
  close?(): Promise<void>;
}

/** A handler for the listener's life, made once it has its dispatchers and masking key. */
export type TargetHandlerFactory = (ctx: ListenerContext, env: ProxyEnv) => TargetHandler;

/** The adapters by target type; a type without one is not served by this listener. */
export type TargetHandlers = Partial<Record<Target['spec']['type'], TargetHandlerFactory>>;

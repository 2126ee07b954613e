/**
 * The exchange core: one protocol-neutral pipeline (pipeline.ts) and what adapters see of it
 * (types.ts). Adapters import from here, never from the engine's decide or the evidence store.
 */
export { admit, runExchange } from './pipeline.ts';
export { refusalOf } from './refusal.ts';
export { judgeUnrecorded, limitsOf } from './judge.ts';
export type { Allowed, Evidence, ExchangeEnv, ExchangeInput, ExchangeRecorder, ExchangeResult, HeldFor, ProtocolCheck, Refused } from './types.ts';
export { endSession, flushResults, openSession, queueResult, recordResult } from './results.ts';
export type { Outcome, ResultEnv, ResultOf, SessionRecorder } from './results.ts';

/** Session recording's public surface. */
export * from './format.ts';
export { Recorder, type EvidenceRef, type RecordDecision, type RecordResult, type StartSession } from './recorder.ts';
export { readSessions, exportRecordings, formatRecordings, parseRecordings, type RecordedExchange, type RecordedSession } from './read.ts';
export { boundSample } from './sample.ts';

/**
 * What the gateways (and the simulator) ask the decision engine. One shape per protocol; every
 * field is data the gateway observed on the wire, already normalised, so `decide` stays pure.
 */

export type Protocol = 'postgres' | 'http' | 'kubernetes' | 'mcp';

/** Statement classes of PostgreSQL, as policy `actions` name them. */
export const StatementClasses = ['select', 'insert', 'update', 'delete', 'ddl', 'copy', 'admin', 'transaction', 'session'] as const;
export type StatementClass = (typeof StatementClasses)[number];

export interface Subject {
  /** Identity name from the bundle */
  identity: string;
  groups: readonly string[];
}

export interface RelationAccess {
  /** schema-qualified when the statement or the catalog says so, else bare */
  schema?: string;
  name: string;
  access: 'read' | 'write';
}

export interface PostgresStatement {
  /** the statement's own text (one statement, even when the query string held several) */
  text: string;
  class: StatementClass;
  /** every class the statement performs, e.g. MERGE is insert+update+delete; class is the first */
  actions?: readonly StatementClass[];
  relations: readonly RelationAccess[];
  /** columns read, qualified by relation when known */
  columns?: readonly { relation?: string; column: string }[];
  functions?: readonly string[];
  /** false for UPDATE/DELETE without WHERE; true for statements where it does not apply */
  hasWhere: boolean;
}

export interface PostgresRequest {
  protocol: 'postgres';
  subject: Subject;
  target: string;
  /** ISO-8601 instant the request was made; conditions with time windows read it */
  at: string;
  statement: PostgresStatement;
}

export interface HttpRequest {
  protocol: 'http';
  subject: Subject;
  target: string;
  at: string;
  method: string;
  /** path below the target's base, starting with '/', percent-decoded and normalised */
  path: string;
  query: Readonly<Record<string, readonly string[]>>;
  /**
   * Set when the request is reviewed: what an approval binds besides method, path and query (a
   * different body or meaning-changing header is a different request) and what approvers read.
   */
  body?: HttpBodyBinding;
  /** meaning-changing request headers (content type and encoding, preconditions), lower-case names */
  headers?: Readonly<Record<string, string>>;
}

export interface HttpBodyBinding {
  /** sha256 (hex) of the body bytes as sent upstream */
  sha256: string;
  bytes: number;
  /** the body for approvers, masked as responses are (JSON masks, content detectors); cut to a bound */
  preview: string;
}

export interface KubernetesRequest {
  protocol: 'kubernetes';
  subject: Subject;
  target: string;
  at: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface McpRequest {
  protocol: 'mcp';
  subject: Subject;
  target: string;
  at: string;
  /** JSON-RPC method, e.g. tools/call, resources/read, prompts/get */
  method: string;
  /** tool or prompt name, or resource URI */
  name?: string;
  arguments?: unknown;
}

export type Request = PostgresRequest | HttpRequest | KubernetesRequest | McpRequest;

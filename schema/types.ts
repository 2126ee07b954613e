/* Generated from schema/*.schema.json by schema/generate-types.ts. Do not edit by hand. */

/**
 * The policy repo's root config (portcullis.yaml)
 */
export interface Repository {
  apiVersion: 'portcullis.dev/v1';
  kind: 'Repository';
  metadata: Metadata;
  spec?: {
    /**
     * folders holding policy files (default: the whole repo)
     */
    include?: string[];
    /**
     * folder of recorded sessions the simulator replays
     */
    recordings?: string;
    /**
     * A duration such as 500ms, 30s, 15m, 8h or 1d
     */
    maxGrantTtl?: string;
    /**
     * A duration such as 500ms, 30s, 15m, 8h or 1d
     */
    maxTokenLifetime?: string;
    coverageThreshold?: number;
    /**
     * how the gateway's evidence is checked
     */
    evidence?: {
      /**
       * the public keys evidence checkpoints may be signed with; `portcullis evidence verify` trusts these and no key found beside the log
       */
      keys?: {
        /**
         * who holds the private half, e.g. the gateway fleet and the year
         */
        name: string;
        /**
         * PEM (SPKI) Ed25519 public key
         */
        publicKey: string;
      }[];
    };
    gates?: {
      newlyAllowed?: 'fail' | 'warn' | 'pass';
      newlyDenied?: 'fail' | 'warn' | 'pass';
      newlyReviewed?: 'fail' | 'warn' | 'pass';
      maskRemoved?: 'fail' | 'warn' | 'pass';
      maskAdded?: 'fail' | 'warn' | 'pass';
      limitRaised?: 'fail' | 'warn' | 'pass';
      limitLowered?: 'fail' | 'warn' | 'pass';
    };
  };
}
export interface Metadata {
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  name: string;
  description?: string;
  labels?: {
    [k: string]: string | undefined;
  };
}

export type Classifications = Classification[];

/**
 * A backend the gateway governs: a PostgreSQL database, an HTTP API, a Kubernetes API server or an MCP server
 */
export interface Target {
  apiVersion: 'portcullis.dev/v1';
  kind: 'Target';
  metadata: Metadata;
  spec: (Postgres | Http | Kubernetes | Mcp) & {
    type: 'postgres' | 'http' | 'kubernetes' | 'mcp';
  };
}
export interface Postgres {
  type: 'postgres';
  host: string;
  port: number;
  database: string;
  user: string;
  /**
   * Where the gateway reads a secret at connect time; secrets never live in the repo
   */
  password?:
    | {
        env: string;
      }
    | {
        file: string;
      };
  tls?: Tls;
  maxConnections?: number;
  classification?: Classifications;
  suppress?: Suppression[];
}
export interface Tls {
  mode?: 'disable' | 'prefer' | 'require' | 'verify-full';
  /**
   * Where the gateway reads a secret at connect time; secrets never live in the repo
   */
  ca?:
    | {
        env: string;
      }
    | {
        file: string;
      };
  serverName?: string;
}
export interface Classification {
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  name: string;
  description?: string;
  /**
   * PostgreSQL columns as [schema.]table.column, '*' globs allowed (e.g. '*.email')
   */
  columns?: string[];
  /**
   * JSON paths in HTTP/MCP bodies: $.a.b, $..email, $.items[*].ssn
   */
  fields?: string[];
  /**
   * Kubernetes Secret data and stringData values
   */
  secretData?: boolean;
  /**
   * content detectors run over every string in responses
   */
  content?: ('email' | 'ssn' | 'card' | 'token')[];
  /**
   * How a classified value is masked
   */
  strategy: 'redact' | 'hash' | 'partial' | 'null';
}
export interface Suppression {
  rule: string;
  reason: string;
}
export interface Http {
  type: 'http';
  url: string;
  auth?: HttpAuth;
  tls?: Tls;
  /**
   * A duration such as 500ms, 30s, 15m, 8h or 1d
   */
  timeout?: string;
  maxBodyBytes?: number;
  /**
   * How the upstream reads paths, so policy reads them the same way. Undeclared: case-sensitive, trailing slash ignored, ';' literal (lint flags deny rules on such targets).
   */
  paths?: {
    /**
     * false: the upstream routes /Admin as /admin (Express's default), so resource patterns match regardless of case
     */
    caseSensitive?: boolean;
    /**
     * ignored: /a/ is /a (the gateway forwards /a); significant: /a/ is another resource, kept and forwarded as sent
     */
    trailingSlash?: 'ignored' | 'significant';
    /**
     * stripped: the upstream drops ;params from path segments (Java servlet containers, Spring), so policy does too
     */
    semicolonParameters?: 'literal' | 'stripped';
  };
  passUnmaskedContentTypes?: string[];
  classification?: Classifications;
  suppress?: Suppression[];
}
export interface HttpAuth {
  /**
   * Where the gateway reads a secret at connect time; secrets never live in the repo
   */
  bearer?:
    | {
        env: string;
      }
    | {
        file: string;
      };
  basic?: {
    username: string;
    /**
     * Where the gateway reads a secret at connect time; secrets never live in the repo
     */
    password:
      | {
          env: string;
        }
      | {
          file: string;
        };
  };
  header?: {
    name: string;
    /**
     * Where the gateway reads a secret at connect time; secrets never live in the repo
     */
    value:
      | {
          env: string;
        }
      | {
          file: string;
        };
  };
}
export interface Kubernetes {
  type: 'kubernetes';
  url: string;
  auth?: HttpAuth;
  tls?: Tls;
  /**
   * A duration such as 500ms, 30s, 15m, 8h or 1d
   */
  timeout?: string;
  classification?: Classifications;
  suppress?: Suppression[];
}
export interface Mcp {
  type: 'mcp';
  url: string;
  auth?: HttpAuth;
  /**
   * A duration such as 500ms, 30s, 15m, 8h or 1d
   */
  timeout?: string;
  pinned?: {
    tool: string;
    sha256: string;
  }[];
  classification?: Classifications;
  suppress?: Suppression[];
  /**
   * Tool arguments that carry SQL: each statement is decided as a request on the named postgres target
   */
  sql?: {
    tool: string;
    argument: string;
    /**
     * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
     */
    target: string;
  }[];
}

/**
 * Which token claims make which agent or human, and the groups it belongs to
 */
export interface Identity {
  apiVersion: 'portcullis.dev/v1';
  kind: 'Identity';
  metadata: Metadata;
  spec: {
    kind: 'agent' | 'human';
    match: {
      issuer?: string;
      subject?: string;
      claims?: {
        [k: string]: string | string[] | undefined;
      };
      /**
       * take groups from the token too: true for the 'groups' claim, or the name of another claim
       */
      groupsClaim?: boolean | string;
    };
    /**
     * longest lifetime (exp - iat) of a token accepted for this identity; overrides the repository's maxTokenLifetime (default 24h). With match.issuer only, it bounds every token of that issuer
     */
    maxTokenLifetime?: string;
    /**
     * Items: A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
     */
    groups?: string[];
    suppress?: Suppression[];
  };
}
export type TargetSelector =
  | [string, ...string[]]
  | {
      labels: {
        [k: string]: string | undefined;
      };
    };

/**
 * Who (subjects) may do what (rules) on which targets
 */
export interface Policy {
  apiVersion: 'portcullis.dev/v1';
  kind: 'Policy';
  metadata: Metadata;
  spec: {
    /**
     * @minItems 1
     */
    subjects: [Subject, ...Subject[]];
    targets: TargetSelector;
    sessionLimits?: {
      /**
       * A duration such as 500ms, 30s, 15m, 8h or 1d
       */
      maxDuration?: string;
      /**
       * A duration such as 500ms, 30s, 15m, 8h or 1d
       */
      idleTimeout?: string;
    };
    /**
     * @minItems 1
     */
    rules: [Rule, ...Rule[]];
    suppress?: Suppression[];
  };
}
export interface Subject {
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  identity?: string;
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  group?: string;
}
export interface Rule {
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  id: string;
  description?: string;
  effect: 'allow' | 'deny' | 'review';
  /**
   * postgres statement classes (select, insert, update, delete, ddl, copy, admin, transaction, session) and the exploration actions: catalog (reads of the system catalog that reveal no data values, e.g. psql's \dt and \d) and tableless (a SELECT reading no relation, e.g. select 1, now(), version()); HTTP methods; Kubernetes verbs; MCP methods; '*' for all
   *
   * @minItems 1
   */
  actions: [string, ...string[]];
  /**
   * postgres [schema.]table globs; HTTP path globs (* one segment, ** any); Kubernetes resource[/subresource]; MCP tool names or resource URIs. Omitted: any.
   *
   * @minItems 1
   */
  resources?: [string, ...string[]];
  /**
   * Kubernetes namespaces (globs); omitted: any
   *
   * @minItems 1
   */
  namespaces?: [string, ...string[]];
  when?: Conditions;
  mask?: Mask[];
  review?: Review;
  suppress?: Suppression[];
}
export interface Conditions {
  /**
   * UPDATE and DELETE must carry a WHERE clause
   */
  requireWhere?: boolean;
  /**
   * results beyond this many rows are refused
   */
  maxRows?: number;
  /**
   * regular expression the SQL text must match
   */
  statementPattern?: string;
  /**
   * regular expression the HTTP path must match
   */
  pathPattern?: string;
  /**
   * HTTP query parameters (names canonicalised: name[] and name[0] are name; name[key] is a value of name too): name -> regular expression every value must match; a parameter that is absent fails unless the condition says absent: pass
   */
  query?: {
    [k: string]:
      | string
      | {
          /**
           * regular expression every value must match
           */
          pattern: string;
          /**
           * whether a request without the parameter passes (fail by default)
           */
          absent: 'pass' | 'fail';
        }
      | undefined;
  };
  /**
   * MCP tool arguments: JSON path -> regular expression the value must match
   */
  arguments?: {
    [k: string]: string | undefined;
  };
  time?: {
    /**
     * @minItems 1
     */
    days?: [
      'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun',
      ...('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[]
    ];
    between?: string;
    timezone?: string;
  };
}
export interface Mask {
  /**
   * @minItems 1
   */
  columns?: [string, ...string[]];
  /**
   * @minItems 1
   */
  fields?: [string, ...string[]];
  /**
   * @minItems 1
   *
   * Items: A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  classifications?: [string, ...string[]];
  /**
   * @minItems 1
   */
  content?: ['email' | 'ssn' | 'card' | 'token', ...('email' | 'ssn' | 'card' | 'token')[]];
  /**
   * How a classified value is masked
   */
  strategy: 'redact' | 'hash' | 'partial' | 'null';
}
export interface Review {
  approvers: {
    /**
     * @minItems 1
     *
     * Items: A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
     */
    groups: [string, ...string[]];
    count?: number;
  };
  grant?: {
    /**
     * A duration such as 500ms, 30s, 15m, 8h or 1d
     */
    ttl: string;
    scope?: 'rule' | 'session';
  };
  /**
   * A duration such as 500ms, 30s, 15m, 8h or 1d
   */
  timeout?: string;
  /**
   * the agent must state why (SET portcullis.reason or a leading /* reason: ... * / comment on PostgreSQL, a Portcullis-Reason header on HTTP and Kubernetes, _meta["portcullis.dev/reason"] on MCP); without a reason the request is refused at once and no approver is asked
   */
  requireReason?: boolean;
}
export interface Invariant {
  apiVersion: 'portcullis.dev/v1';
  kind: 'Invariant';
  metadata: Metadata;
  spec: {
    description?: string;
    scope: {
      /**
       * @minItems 1
       */
      subjects?: [Subject, ...Subject[]];
      /**
       * @minItems 1
       */
      targets?: [string, ...string[]];
      /**
       * @minItems 1
       */
      actions?: [string, ...string[]];
      /**
       * @minItems 1
       */
      resources?: [string, ...string[]];
    };
    assert: {
      /**
       * @minItems 1
       */
      effectNot?: ['allow' | 'deny' | 'review', ...('allow' | 'deny' | 'review')[]];
      /**
       * classifications that are always masked in scope
       *
       * @minItems 1
       *
       * Items: A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
       */
      masked?: [string, ...string[]];
    };
    suppress?: Suppression[];
  };
}
export interface PolicyTest {
  apiVersion: 'portcullis.dev/v1';
  kind: 'PolicyTest';
  metadata: Metadata;
  spec: {
    /**
     * @minItems 1
     */
    cases: [Case, ...Case[]];
  };
}
export interface Case {
  name: string;
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  as: string;
  /**
   * A DNS-label-like name: lowercase letters, digits, '.', '_' and '-'
   */
  target: string;
  at?: string;
  sql?: string;
  http?: string;
  k8s?: string;
  mcp?: string;
  expect: {
    effect: 'allow' | 'deny' | 'review';
    rules?: string[];
    masks?: string[];
  };
}

/** What the global setup hands every test file about the shared PostgreSQL. */
export interface HarnessPostgres {
  host: '127.0.0.1';
  port: number;
  /** Superuser, authenticating with SCRAM-SHA-256. */
  user: string;
  password: string;
  /** `postgres`: the maintenance database. */
  database: string;
  /** `shop`: the sample data, shared by all tests; treat it as read-only (use createScratchDatabase to write). */
  sampleDatabase: string;
  /** A copy of `shop` that nobody connects to, so CREATE DATABASE ... TEMPLATE can clone it. */
  templateDatabase: string;
  /** Superuser URL to the `shop` database. */
  url: string;
  socketDir: string;
  /** Server log; every statement is logged (log_statement=all). */
  logFile: string;
  majorVersion: number;
  /** Roles that authenticate with md5, trust and cleartext password; their password is `testRolePassword`. */
  testRoles: { md5: string; trust: string; password: string };
  testRolePassword: string;
}

declare module 'vitest' {
  interface ProvidedContext {
    pg: HarnessPostgres;
  }
}

/**
 * The PostgreSQL listener: TLS via SSLRequest, the agent's JWT as its password, the target chosen
 * by the startup `database`, the backend reached with the credential the gateway holds. A client
 * gets a protocol-native FATAL error for every way this can fail, never a dropped connection.
 */
import { isUtf8 } from './lexing.ts';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import { randomInt, randomUUID } from 'node:crypto';
import { PortcullisError } from '../../errors.ts';
import type { GatewayContext, AuthenticatedSubject } from '../../gateway/context.ts';
import { decodePasswordMessage } from './wire/frontend.ts';
import { authenticationCleartextPassword, authenticationOk, backendKeyData, encryptionResponse, parameterStatus, readyForQuery } from './wire/serialize.ts';
import { connectBackend, sendCancelRequest, type BackendConnection } from './backend/connect.ts';
import { admit, endSession, limitsOf, openSession } from '../../exchange/index.ts';
import { ClientReader } from './client-reader.ts';
import { CatalogCache, backendOptions, postgresSpec } from './targets.ts';
import { PostgresSession } from './session.ts';
import { errorFromPortcullis, fatal } from './refusal.ts';
import { closeClient } from './closing.ts';
import { shortRevision } from '../../bundle/revision.ts';

export interface PostgresGatewayOptions {
  host: string;
  /** 0 picks a free port */
  port: number;
  /** PEM certificate and key; without them SSLRequest is declined */
  tls?: { cert: string; key: string };
  /** plaintext (and therefore a cleartext token) only from loopback clients, from anyone, or never */
  plaintext: 'loopback' | 'always' | 'never';
  /** HMAC key of the `hash` masking strategy */
  maskKey: Buffer;
  startupTimeoutMs?: number;
  /** where the catalog's memory of classified columns (by oid and attnum) survives restarts */
  catalogStateDir?: string;
}

export interface PostgresGateway {
  port: number;
  sessions(): number;
  /** client connections open (in startup or in a session) */
  connections(): number;
  /** Stop accepting; let open sessions finish for up to `drainMs`, then end them and close every socket. */
  close(drainMs?: number): Promise<void>;
}

interface Connection {
  raw: Socket;
  /** the socket the client speaks on: `raw`, or the TLS socket over it */
  socket: Socket;
  reader: ClientReader;
}

interface CancelTarget {
  host: string;
  port: number;
  processId: number;
  secretKey: number;
}

export async function startPostgresGateway(ctx: GatewayContext, opts: PostgresGatewayOptions): Promise<PostgresGateway> {
  const catalogs = new CatalogCache({
    ...(opts.catalogStateDir ? { stateDir: opts.catalogStateDir } : {}),
    log: (event, fields) => ctx.log(event, fields),
    drift: (target, d) => {
      ctx.metrics?.observeCatalogDrift(target);
      ctx.note?.(
        `catalog.drift:${target}:${d.oid}:${d.attnum}`,
        `target ${target}: classified column ${d.was.join(', ')} is now named ${d.now}; it stays masked, but the classification should name it (portcullis lint --catalog)`,
      );
      void ctx.recorder.recordCatalogDrift({ target, ...d }).catch((err: unknown) => ctx.log('postgres.catalog.drift-unrecorded', { target, error: String(err) }));
    },
  });
  const cancelKeys = new Map<string, CancelTarget>();
  const live = new Set<PostgresSession>();
  const secure: SecureContext | undefined = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : undefined;

  /** every client socket still open, in startup or in a session: all are closed at shutdown */
  const sockets = new Set<Socket>();
  /** raw sockets that carry a session: at shutdown they get the drain, not an immediate close */
  const sessionSockets = new WeakSet<Socket>();
  let draining = false;
  /** called when the last session ends during a drain */
  let allEnded: (() => void) | undefined;

  const server: Server = createServer((raw) => {
    raw.setNoDelay(true);
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    const conn: Connection = { raw, socket: raw, reader: new ClientReader(raw) };
    accept(conn).catch((err) => {
      const e = PortcullisError.from(err);
      ctx.log('postgres.connection.refused', { code: e.code, message: e.message, client: raw.remoteAddress });
      // The reader stops buffering what the client sends; the socket is closed for good below.
      conn.reader.detach();
      if (e.details.closeSilently) return closeClient(conn.socket);
      closeClient(conn.socket, errorFromPortcullis(e, 'FATAL'));
    });
  });

  async function accept(conn: Connection): Promise<void> {
    const { raw, reader } = conn;
    let socket: Socket = raw;
    let encrypted = false;
    const timeout = opts.startupTimeoutMs ?? 15_000;
    let first = await reader.next(timeout);
    while (first.type === 'SSLRequest' || first.type === 'GSSENCRequest') {
      if (first.type === 'SSLRequest' && secure && !encrypted) {
        reader.detach();
        // Bytes behind the SSLRequest were sent before encryption: a man in the middle's (CVE-2021-23214).
        if (reader.parser.buffered > 0) throw new PortcullisError('protocol_violation', 'client sent data after SSLRequest before the TLS handshake');
        raw.write(encryptionResponse(true));
        const tlsSocket = new TLSSocket(raw, { isServer: true, secureContext: secure });
        tlsSocket.setNoDelay?.(true);
        reader.switchTo(tlsSocket);
        socket = tlsSocket;
        conn.socket = tlsSocket;
        encrypted = true;
      } else {
        socket.write(encryptionResponse(false));
      }
      first = await reader.next(timeout);
    }
    if (first.type === 'CancelRequest') {
      const t = cancelKeys.get(`${first.processId}:${first.secretKey}`);
      if (t) await sendCancelRequest(t.host, t.port, t.processId, t.secretKey).catch(() => {});
      reader.detach();
      closeClient(socket);
      return;
    }
    if (first.type !== 'StartupMessage') throw new PortcullisError('protocol_violation', `expected a startup message, got ${first.type}`);
    if (first.protocolVersion >> 16 !== 3) throw new PortcullisError('protocol_violation', `unsupported protocol version ${first.protocolVersion >> 16}.${first.protocolVersion & 0xffff}`);
    const params = first.params;

    if (!encrypted && !plaintextAllowed(raw)) {
      throw new PortcullisError('unauthenticated', 'this gateway requires TLS: the token would travel in clear text', { details: { hint: 'connect with sslmode=require' } });
    }

    // The gateway parses queries as UTF-8; a backend reading them in another encoding (SJIS, BIG5:
    // a backslash or quote byte inside a character) would see other statements than were decided.
    const encoding = params.get('client_encoding');
    if (encoding !== undefined && !isUtf8(encoding)) {
      throw new PortcullisError('invalid_argument', `client_encoding ${encoding} is not supported: the gateway reads every query as UTF-8`, {
        details: { hint: 'connect with client_encoding=UTF8 (PGCLIENTENCODING=UTF8)' },
      });
    }
    socket.write(authenticationCleartextPassword());
    const password = await reader.next(timeout);
    if (password.type !== 'Password') throw new PortcullisError('protocol_violation', `expected the password message, got ${password.type}`);
    const token = decodePasswordMessage(password.data);
    const subject: AuthenticatedSubject = await ctx.authenticate(token);

    if (draining) throw new PortcullisError('unavailable', 'the gateway is shutting down', { details: { hint: 'reconnect; another gateway replica may serve you' } });
    const bundle = ctx.bundle();
    if (!bundle) throw new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle yet; it refuses connections until it has one');
    const targetName = params.get('database') ?? params.get('user') ?? '';
    const spec = (() => {
      try {
        return postgresSpec(bundle.targets.get(targetName), targetName);
      } catch (err) {
        const names = [...bundle.targets.values()].filter((t) => t.doc.spec.type === 'postgres').map((t) => t.doc.metadata.name);
        throw new PortcullisError('not_found', (err as Error).message, { details: { hint: `connect with dbname set to one of: ${names.join(', ')}` } });
      }
    })();
    if (admit(ctx)) throw new PortcullisError('failed_precondition', 'the evidence store is not writable, so the gateway accepts no sessions until it recovers');

    let backend: BackendConnection;
    try {
      const searchPath = await catalogs.get(targetName, spec).then(
        (c) => c.searchPathSetting,
        () => undefined,
      );
      backend = await connectBackend(await backendOptions(targetName, spec, params, undefined, searchPath));
    } catch (err) {
      const e = PortcullisError.from(err);
      ctx.log('postgres.backend.unavailable', { target: targetName, code: e.code, message: e.message });
      // The backend's address and role are the gateway's business, not the agent's.
      throw new PortcullisError(e.code === 'failed_precondition' ? 'failed_precondition' : 'unavailable', `target '${targetName}' is unavailable right now`, {
        cause: e,
        details: { hint: 'retry later; the gateway logs the cause' },
      });
    }

    let sessionId: string;
    try {
      sessionId = await openSession(ctx, {
        identity: subject.identity,
        kind: subject.kind,
        groups: [...subject.groups],
        tokenSubject: subject.tokenSubject,
        issuer: subject.issuer,
        target: targetName,
        protocol: 'postgres',
        client: { address: raw.remoteAddress ?? 'unknown', ...(raw.remotePort ? { port: raw.remotePort } : {}) },
        revision: bundle.revision,
        attributes: Object.fromEntries([...params].filter(([k]) => k === 'application_name' || k === 'user' || k === 'database')),
      });
    } catch (err) {
      void backend.close().catch(() => {});
      throw new PortcullisError('failed_precondition', 'the evidence store cannot record this session, so it is refused', { cause: err });
    }

    const key = { processId: randomInt(1, 2 ** 31 - 1), secretKey: randomInt(-(2 ** 31), 2 ** 31 - 1) };
    const cancelKey = `${key.processId}:${key.secretKey}`;
    cancelKeys.set(cancelKey, { host: backend.host, port: backend.port, ...backend.backendKey });

    const hello: Buffer[] = [authenticationOk()];
    for (const [k, v] of backend.serverParams) hello.push(parameterStatus(k, v));
    hello.push(parameterStatus('portcullis.policy_revision', shortRevision(bundle.revision)));
    hello.push(backendKeyData(key.processId, key.secretKey), readyForQuery('I'));
    if (!socket.destroyed) socket.write(Buffer.concat(hello));

    const client = reader.detach();
    sessionSockets.add(raw);
    const session: PostgresSession = new PostgresSession({
      ctx,
      sessionId,
      subject,
      target: targetName,
      client,
      clientParser: reader.parser,
      backend,
      catalog: () => catalogs.get(targetName, spec),
      maskKey: opts.maskKey,
      limits: limitsOf(bundle, subject, targetName),
      onEnd: (reason) => {
        live.delete(session);
        cancelKeys.delete(cancelKey);
        if (live.size === 0) allEnded?.();
        void ctx.approvals?.sessionEnded(sessionId).catch(() => {});
        void endSession(ctx, sessionId, reason);
        ctx.log('postgres.session.end', { sessionId, reason });
      },
    });
    live.add(session);
    session.start();
    ctx.log('postgres.session.start', { sessionId, identity: subject.identity, target: targetName, tls: encrypted });
    // The client left while its token was checked and the backend reached: the session that was
    // just recorded ends at once, releasing the backend and writing session.end.
    if (reader.clientGone || client.destroyed) session.end('client-closed');
  }

  function plaintextAllowed(socket: Socket): boolean {
    if (opts.plaintext === 'always') return true;
    if (opts.plaintext === 'never') return false;
    const a = socket.remoteAddress ?? '';
    return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  return {
    port,
    sessions: () => live.size,
    connections: () => sockets.size,
    async close(drainMs = 0) {
      draining = true;
      // No new connections; the promise settles once every socket below is gone.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Sockets still in startup (or holding a half-sent message) have nothing to finish.
      for (const s of [...sockets]) if (!sessionSockets.has(s)) closeClient(s);
      if (drainMs > 0 && live.size > 0) {
        ctx.log('postgres.draining', { sessions: live.size, deadlineMs: drainMs });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          allEnded = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      for (const s of [...live]) s.end('gateway-shutdown', fatal('unavailable', 'the gateway is shutting down', 'reconnect; another gateway replica may serve you'));
      for (const s of [...sockets]) closeClient(s);
      await closed;
      await catalogs.close();
    },
  };
}

export { randomUUID };

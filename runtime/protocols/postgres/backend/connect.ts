/**
 * Opens an authenticated connection to a PostgreSQL backend with the credential the gateway holds:
 * TLS negotiation, startup, then SCRAM-SHA-256, MD5, cleartext or trust. The result is a raw
 * socket positioned just after the first ReadyForQuery, ready to be spliced to a client.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { PortcullisError } from '../../../errors.ts';
import { decodeAuthentication, decodeBackendKeyData, decodeError, decodeNegotiateProtocolVersion, decodeParameterStatus, type BackendFrame } from '../wire/backend.ts';
import { cancelRequest, passwordMessage, saslInitialResponse, saslResponse, sslRequest, startupMessage, terminate } from '../wire/serialize.ts';
import { FrameSource } from './frame-source.ts';
import { ScramClient } from './scram.ts';

export { simpleQuery, type SimpleQueryResult } from './simple-query.ts';

export type TlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

export interface ConnectBackendOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  tls?: { mode: TlsMode; ca?: string; servername?: string };
  /** Extra startup parameters (application_name, options...); client_encoding defaults to UTF8. */
  startupParams?: Record<string, string>;
  /** Covers TCP, TLS and authentication together. Default 10 s. */
  connectTimeoutMs?: number;
}

export type AuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface BackendConnection {
  /** TCP_NODELAY is set. Paused: attach a 'data' listener, then call resume(). */
  socket: Socket | TLSSocket;
  encrypted: boolean;
  host: string;
  port: number;
  user: string;
  database: string;
  /** How the backend authenticated us. */
  authMethod: AuthMethod;
  serverParams: Map<string, string>;
  backendKey: { processId: number; secretKey: number };
  /** Bytes the backend sent after ReadyForQuery (normally none); process them before new socket data. */
  leftover: Buffer;
  /** Sends Terminate and closes the socket. */
  close(): Promise<void>;
}

class Attempt {
  readonly where: string;
  constructor(readonly opts: ConnectBackendOptions) {
    this.where = `backend ${opts.host}:${opts.port}`;
  }
  unreachable(why: string, cause?: unknown): PortcullisError {
    return new PortcullisError('unavailable', `cannot reach ${this.where}: ${why}`, {
      cause,
      details: { hint: 'check that the target endpoint is right and the server is running and reachable from the gateway' },
    });
  }
  rejected(why: string, cause?: unknown): PortcullisError {
    return new PortcullisError('unauthenticated', `${this.where} rejected the credentials of role ${this.opts.user}: ${why}`, {
      cause,
      details: { hint: 'check the credential the target references and the role in the backend' },
    });
  }
}

function tcp(a: Attempt): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: a.opts.host, port: a.opts.port });
    socket.setNoDelay(true);
    const onError = (err: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(a.unreachable(err.code ?? err.message, err));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** One unframed byte answers SSLRequest; anything behind it was not protected by TLS and is refused (CVE-2021-23222). */
function readEncryptionAnswer(a: Attempt, socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      cleanup();
      socket.pause();
      if (chunk.length !== 1) {
        reject(new PortcullisError('protocol_violation', `${a.where} sent ${chunk.length - 1} unexpected byte(s) with its answer to SSLRequest`));
        return;
      }
      resolve(String.fromCharCode(chunk[0]!));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(a.unreachable(err.message, err));
    };
    const onClose = () => {
      cleanup();
      reject(a.unreachable('the server closed the connection during TLS negotiation'));
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.resume();
  });
}

async function negotiateTls(a: Attempt, socket: Socket): Promise<Socket | TLSSocket> {
  const tls = a.opts.tls ?? { mode: 'prefer' as const };
  if (tls.mode === 'disable') return socket;
  socket.write(sslRequest());
  const answer = await readEncryptionAnswer(a, socket);
  if (answer === 'N') {
    if (tls.mode === 'prefer') return socket;
    socket.destroy();
    throw new PortcullisError('unavailable', `${a.where} does not accept TLS connections, but the target requires TLS (mode ${tls.mode})`, {
      details: { hint: `enable ssl on the server, or set the target's tls mode to prefer or disable if plaintext is acceptable` },
    });
  }
  if (answer !== 'S') {
    socket.destroy();
    throw new PortcullisError('protocol_violation', `${a.where} answered SSLRequest with 0x${answer.charCodeAt(0).toString(16)}; is it a PostgreSQL server?`);
  }
  const verify = tls.mode === 'verify-full';
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      // Without host, Node checks the certificate against "localhost" rather than the address dialled.
      host: a.opts.host,
      servername: tls.servername ?? (/^[\d.:]+$/.test(a.opts.host) ? undefined : a.opts.host),
      ...(tls.ca ? { ca: tls.ca } : {}),
      rejectUnauthorized: verify,
      minVersion: 'TLSv1.2',
      // verify-full checks the chain and the name; require only encrypts, as libpq's sslmode=require does.
      ...(verify ? {} : { checkServerIdentity: () => undefined }),
    });
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
    const onError = (err: Error) => {
      secure.destroy();
      reject(new PortcullisError('unavailable', `TLS handshake with ${a.where} failed: ${err.message}`, { cause: err }));
    };
    secure.once('error', onError);
  });
}

function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

function needPassword(a: Attempt, method: string): string {
  if (a.opts.password === undefined) {
    throw new PortcullisError('unauthenticated', `${a.where} asks role ${a.opts.user} for ${method} authentication, but no password is configured`, {
      details: { hint: 'reference the backend password in the target (credentials: {env: ...} or {file: ...})' },
    });
  }
  return a.opts.password;
}

function startupError(a: Attempt, frame: BackendFrame): PortcullisError {
  const e = decodeError(frame.body);
  const cause = Object.assign(new Error(e.message), { sqlstate: e.code, detail: e.detail });
  if (e.code.startsWith('28')) return a.rejected(e.message, cause);
  return new PortcullisError('unavailable', `${a.where} refused role ${a.opts.user} on database ${a.opts.database}: ${e.message} (SQLSTATE ${e.code})`, {
    cause,
    details: { sqlstate: e.code },
  });
}

async function authenticate(a: Attempt, socket: Socket, src: FrameSource): Promise<AuthMethod> {
  let scram: ScramClient | undefined;
  let method: AuthMethod = 'trust';
  for (;;) {
    const frame = await src.next();
    if (frame.type === 'ErrorResponse') throw startupError(a, frame);
    if (frame.type === 'NegotiateProtocolVersion') {
      decodeNegotiateProtocolVersion(frame.body); // validated; it only lists startup options the server ignored
      continue;
    }
    if (frame.type === 'NoticeResponse') continue;
    if (frame.type !== 'Authentication') {
      throw new PortcullisError('protocol_violation', `${a.where} sent ${frame.type} before authentication completed`);
    }
    const auth = decodeAuthentication(frame.body);
    switch (auth.kind) {
      case 'Ok':
        // A server that skips the SCRAM final step could be one that never knew the password.
        if (scram && !scram.complete) throw a.rejected('the backend ended SCRAM without proving it knows the password');
        return method;
      case 'CleartextPassword':
        method = 'password';
        socket.write(passwordMessage(needPassword(a, 'cleartext password')));
        break;
      case 'MD5Password': {
        method = 'md5';
        const pw = needPassword(a, 'md5');
        const inner = md5Hex(pw + a.opts.user);
        const outer = md5Hex(Buffer.concat([Buffer.from(inner, 'latin1'), auth.salt]));
        socket.write(passwordMessage(`md5${outer}`));
        break;
      }
      case 'SASL': {
        if (!auth.mechanisms.includes(ScramClient.mechanism)) {
          throw a.rejected(`the backend offers only SASL mechanisms ${auth.mechanisms.join(', ')}; SCRAM-SHA-256 is required`);
        }
        method = 'scram-sha-256';
        scram = new ScramClient(needPassword(a, 'SCRAM-SHA-256'));
        socket.write(saslInitialResponse(ScramClient.mechanism, scram.clientFirst()));
        break;
      }
      case 'SASLContinue':
        if (!scram) throw new PortcullisError('protocol_violation', `${a.where} sent SASLContinue without a SASL exchange`);
        socket.write(saslResponse(await scram.clientFinal(auth.data)));
        break;
      case 'SASLFinal':
        if (!scram) throw new PortcullisError('protocol_violation', `${a.where} sent SASLFinal without a SASL exchange`);
        scram.verifyServerFinal(auth.data);
        break;
      default:
        throw a.rejected(`the backend requests ${auth.kind} authentication, which Portcullis does not support`);
    }
  }
}

async function afterAuth(a: Attempt, src: FrameSource): Promise<{ params: Map<string, string>; key: { processId: number; secretKey: number } }> {
  const params = new Map<string, string>();
  let key: { processId: number; secretKey: number } | undefined;
  for (;;) {
    const frame = await src.next();
    switch (frame.type) {
      case 'ParameterStatus': {
        const p = decodeParameterStatus(frame.body);
        params.set(p.name, p.value);
        break;
      }
      case 'BackendKeyData':
        key = decodeBackendKeyData(frame.body);
        break;
      case 'NoticeResponse':
        break;
      case 'ErrorResponse':
        throw startupError(a, frame);
      case 'ReadyForQuery':
        return { params, key: key ?? { processId: 0, secretKey: 0 } };
      default:
        throw new PortcullisError('protocol_violation', `${a.where} sent ${frame.type} during startup`);
    }
  }
}

export async function connectBackend(opts: ConnectBackendOptions): Promise<BackendConnection> {
  const a = new Attempt(opts);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  let socket: Socket | TLSSocket | undefined;
  let src: FrameSource | undefined;
  let timedOut = false;
  const timeoutError = a.unreachable(`no answer within ${timeoutMs} ms`);
  const timer = setTimeout(() => {
    timedOut = true;
    src?.fail(timeoutError);
    socket?.destroy();
  }, timeoutMs);
  try {
    const raw = await tcp(a);
    socket = raw;
    if (timedOut) throw timeoutError;
    socket = await negotiateTls(a, raw);
    socket.setNoDelay(true);
    const params: Record<string, string> = { client_encoding: 'UTF8', ...opts.startupParams, user: opts.user, database: opts.database };
    src = new FrameSource(socket, a.where);
    socket.write(startupMessage(params));
    const authMethod = await authenticate(a, socket, src);
    const { params: serverParams, key } = await afterAuth(a, src);
    const leftover = src.detach();
    const s = socket;
    // Until the caller attaches its own handlers, an error on the idle socket must not crash the
    // process; 'close' still reports it.
    s.on('error', () => {});
    return {
      socket: s,
      encrypted: s !== raw,
      host: opts.host,
      port: opts.port,
      user: opts.user,
      database: opts.database,
      authMethod,
      serverParams,
      backendKey: key,
      leftover,
      close: () => closeSocket(s),
    };
  } catch (err) {
    src?.detach();
    socket?.destroy();
    // Whatever the half-done step reported (a closed socket, a failed handshake), the cause was the deadline.
    if (timedOut) throw timeoutError;
    if (PortcullisError.is(err)) throw err;
    throw a.unreachable((err as Error).message ?? String(err), err);
  } finally {
    clearTimeout(timer);
  }
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
    socket.on('error', () => {}); // the peer may have gone already; closing is best effort
    socket.end(terminate());
    setTimeout(() => socket.destroy(), 2_000).unref();
  });
}

/**
 * Asks the backend to cancel the query running in `processId`. Like libpq, it only reports
 * whether the request was delivered: the server never says whether something was cancelled.
 */
export function sendCancelRequest(host: string, port: number, processId: number, secretKey: number, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PortcullisError('unavailable', `cancel request to backend ${host}:${port} got no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => socket.end(cancelRequest(processId, secretKey)));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new PortcullisError('unavailable', `cannot reach backend ${host}:${port} to cancel a query: ${err.message}`, { cause: err }));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

/**
 * SCRAM-SHA-256 client (RFC 5802 / 7677) as PostgreSQL uses it: the user name travels in the
 * startup packet, so the SCRAM one is empty, and no channel binding is offered ("n,,").
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { PortcullisError } from '../../../errors.ts';

const pbkdf2Async = promisify(pbkdf2);

/** Above PostgreSQL's default (4096) by far, yet low enough that a hostile server cannot pin a CPU for minutes. */
const MAX_ITERATIONS = 10_000_000;

/**
 * A SASLprep approximation (RFC 4013) matching what PostgreSQL applies when it stores a verifier:
 * non-ASCII spaces become spaces, "mapped to nothing" characters vanish, NFKC; a password with
 * prohibited characters is used as is, as PostgreSQL does.
 */
export function saslprep(password: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const mapped = password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u06dd\u070f\u180e\u200e\u200f\u2028-\u202e\u2061-\u2064\u206a-\u206f\ufff9-\ufffd\ue000-\uf8ff]/.test(mapped)) {
    return password;
  }
  return mapped;
}

function fail(message: string): PortcullisError {
  return new PortcullisError('unauthenticated', message);
}

function attributes(message: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw fail(`malformed SCRAM ${what} message from the backend`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export class ScramClient {
  private readonly nonce: string;
  private readonly clientFirstBare: string;
  private expectedServerSignature: Buffer | undefined;
  private verified = false;

  /** `user` stays empty for PostgreSQL, which takes the role from the startup packet. */
  constructor(
    private readonly password: string,
    nonce = randomBytes(18).toString('base64'),
    user = '',
  ) {
    this.nonce = nonce;
    this.clientFirstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  }

  static readonly mechanism = 'SCRAM-SHA-256';

  clientFirst(): Buffer {
    return Buffer.from(`n,,${this.clientFirstBare}`, 'utf8');
  }

  /** Answer to the server-first message (AuthenticationSASLContinue). */
  async clientFinal(serverFirstData: Buffer): Promise<Buffer> {
    const serverFirst = serverFirstData.toString('utf8');
    const attrs = attributes(serverFirst, 'server-first');
    if (attrs.has('m')) throw fail('the backend requires a SCRAM extension that is not supported');
    const serverNonce = attrs.get('r');
    const saltB64 = attrs.get('s');
    const iterText = attrs.get('i');
    if (!serverNonce || !saltB64 || !iterText) throw fail('SCRAM server-first message lacks the nonce, salt or iteration count');
    // The server must extend our nonce; otherwise this is a replay of some other exchange.
    if (!serverNonce.startsWith(this.nonce) || serverNonce.length === this.nonce.length) {
      throw fail('SCRAM server nonce does not extend the client nonce');
    }
    const iterations = Number(iterText);
    if (!/^\d+$/.test(iterText) || iterations < 1 || iterations > MAX_ITERATIONS) {
      throw fail(`SCRAM iteration count ${iterText} is out of range (1..${MAX_ITERATIONS})`);
    }
    const salt = Buffer.from(saltB64, 'base64');
    if (salt.length === 0) throw fail('SCRAM salt is empty');

    const salted = await pbkdf2Async(Buffer.from(saslprep(this.password), 'utf8'), salt, iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${serverNonce}`; // biws = base64("n,,")
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks the server-final message (AuthenticationSASLFinal): the server must prove it knows the verifier. */
  verifyServerFinal(data: Buffer): void {
    if (!this.expectedServerSignature) throw fail('SCRAM server-final message arrived before server-first');
    const attrs = attributes(data.toString('utf8'), 'server-final');
    const error = attrs.get('e');
    if (error !== undefined) throw fail(`SCRAM authentication failed: ${error}`);
    const v = attrs.get('v');
    const got = v === undefined ? Buffer.alloc(0) : Buffer.from(v, 'base64');
    if (got.length !== 32 || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw fail('the backend failed to prove it knows the password (SCRAM server signature mismatch)');
    }
    this.verified = true;
  }

  /** True once the server signature checked out; AuthenticationOk before that is refused. */
  get complete(): boolean {
    return this.verified;
  }
}

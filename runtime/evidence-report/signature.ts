/**
 * A detached Ed25519 signature over the report's exact bytes, so a report handed to an auditor can
 * be checked for having been changed since it was made (`portcullis evidence verify-report`). The
 * signed message is domain-separated: a report signature can never pass for a checkpoint's.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { PortcullisError } from '../errors.ts';
import { keyIdOf, signMessage, verifyMessage } from '../evidence/keys.ts';

export interface ReportSignature {
  alg: 'Ed25519';
  keyId: string;
  /** base64url signature over reportMessage(report bytes) */
  sig: string;
}

function reportMessage(report: Buffer): Buffer {
  return Buffer.concat([Buffer.from('portcullis-evidence-report:v1\n', 'utf8'), report]);
}

export function signReport(report: string | Buffer, privateKey: KeyObject): ReportSignature {
  const bytes = typeof report === 'string' ? Buffer.from(report, 'utf8') : report;
  return { alg: 'Ed25519', keyId: keyIdOf(createPublicKey(privateKey)), sig: signMessage(privateKey, reportMessage(bytes)) };
}

export function parseSignature(text: string, where: string): ReportSignature {
  try {
    const v = JSON.parse(text) as Partial<ReportSignature>;
    if (v.alg === 'Ed25519' && typeof v.keyId === 'string' && typeof v.sig === 'string') return v as ReportSignature;
  } catch {
    // reported below
  }
  throw new PortcullisError('invalid_argument', `${where} is not a report signature (JSON with alg Ed25519, keyId and sig)`);
}

/** Which trusted key signed the report, or why none did. */
export function checkReportSignature(report: Buffer, signature: ReportSignature, keys: readonly KeyObject[]): { ok: true; keyId: string } | { ok: false; reason: string } {
  const key = keys.find((k) => keyIdOf(k) === signature.keyId);
  if (!key) return { ok: false, reason: `the report is signed by key ${signature.keyId}, which is not a trusted key` };
  if (!verifyMessage(key, reportMessage(report), signature.sig))
    return { ok: false, reason: 'the signature does not match the report: it was changed after it was signed (or the signature belongs to another report)' };
  return { ok: true, keyId: signature.keyId };
}

/** The classified values of the sample data, read straight from the harness server. */
import { pgClient } from '../harness/postgres.ts';

export interface Secrets {
  values: string[];
  /** the first secret found in `bytes`, or undefined */
  leak(bytes: Buffer | string): string | undefined;
}

export async function loadSecrets(): Promise<Secrets> {
  const c = await pgClient();
  try {
    const r = await c.query<{ email: string; ssn: string | null; phone: string | null; card_number: string | null }>('SELECT email, ssn, phone, card_number FROM customers');
    const values = new Set<string>();
    for (const row of r.rows) {
      for (const v of [row.email, row.ssn, row.phone, row.card_number]) {
        if (!v) continue;
        values.add(v);
        // an expression could strip the punctuation; the digits alone are just as classified
        const digits = v.replace(/\D/g, '');
        if (digits.length >= 9) values.add(digits);
      }
    }
    if (values.size < 20) throw new Error(`expected classified sample data, found ${values.size} values`);
    const needles = [...values].map((v) => Buffer.from(v));
    return {
      values: [...values],
      leak(bytes) {
        const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
        return needles.find((n) => b.includes(n))?.toString();
      },
    };
  } finally {
    await c.end();
  }
}

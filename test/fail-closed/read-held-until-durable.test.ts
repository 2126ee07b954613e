/**
 * A read runs as soon as its decision record is written, and its rows wait in the gateway until the
 * record is on disk. When the disk flush fails, the agent must get none of them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backendLog, backendLogSize, failure, marker, startGateway, type Gateway } from './fixture.ts';
import { breakableDisk } from '../evidence/helpers.ts';

const eio = () => Object.assign(new Error('input/output error'), { code: 'EIO' });

const gateways: Gateway[] = [];
afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
});

describe('a read whose evidence never reaches the disk', () => {
  it('ran in the backend, but not one of its rows reaches the agent; the session ends with 57P03', async () => {
    // Writes succeed (the record is in the OS) while every fdatasync fails: a dying disk.
    const disk = breakableDisk();
    const gw = await startGateway({ evidence: disk.evidence });
    gateways.push(gw);
    const session = await gw.connect();
    const rowsSeen: unknown[] = [];
    (session as unknown as { connection: { on(e: string, f: (m: unknown) => void): void } }).connection.on('dataRow', (m) => rowsSeen.push(m));
    expect((await session.query('select id from products order by id limit 1')).rows).toHaveLength(1);
    rowsSeen.length = 0;

    const logStart = await backendLogSize();
    const secret = marker('withheld');
    disk.fail(eio);
    const refused = await failure(session.query(`select '${secret}' as m, id from products limit 3`));
    expect(refused).toMatchObject({ code: '57P03', severity: 'FATAL' });
    expect(refused.message).toMatch(/could not be made durable, so its results are withheld/);
    expect(rowsSeen).toEqual([]);
    // The statement did run (it was forwarded once written): the hold is what kept its rows back.
    expect(await backendLog(logStart)).toContain(secret);
  });

  it('a SELECT that takes row locks is not a read: it waits for the disk and never reaches the backend', async () => {
    const disk = breakableDisk();
    const gw = await startGateway({ evidence: disk.evidence });
    gateways.push(gw);
    const session = await gw.connect();
    const logStart = await backendLogSize();
    disk.fail(eio);
    // A comment between FOR and UPDATE: still a row lock to PostgreSQL, so still not a read.
    const locking = marker('locking');
    const refused = await failure(session.query(`select '${locking}' as m from products for /* x */ update`));
    expect(refused).toMatchObject({ code: '57P03', severity: 'ERROR' });
    expect(await backendLog(logStart)).not.toContain(locking);
  });
});

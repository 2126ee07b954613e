/** A scratch copy of the sample `shop` database with extra objects that try to leak, and its catalog. */
import type pg from 'pg';
import { createScratchDatabase, pgClient } from '../harness/postgres.ts';
import { Catalog } from '../../runtime/sql/catalog.ts';
import type { MaskLookup } from '../../runtime/sql/mask-safety.ts';

export const EXTRA_SQL = `
create view leaky_upper as select id, upper(ssn) as ussn from customers;
create view passthrough as select c.id, c.ssn as tax_id, c.name from customers c;
create view filtered as select id, name from customers where ssn like '1%';
create view nested_view as select id, tax_id from passthrough;
create materialized view contacts_mv as select id, email from customers;
create function leak_ssn(i int) returns text language sql as 'select ssn from customers where id = i';
create function add1(i int) returns int language sql immutable as 'select i + 1';
create function eq_text(a text, b text) returns boolean language sql as 'select a = b';
create operator === (leftarg = text, rightarg = text, function = eq_text);
`;

export const maskOf: MaskLookup = (schema, table, column) => {
  if (schema !== 'public' || table !== 'customers') return undefined;
  if (column === 'ssn') return { strategy: 'hash', label: 'pii' };
  if (column === 'email') return { strategy: 'partial', label: 'pii' };
  if (column === 'card_number') return { strategy: 'redact', label: 'pci' };
  return undefined;
};

export interface ShopFixture {
  client: pg.Client;
  catalog: Catalog;
  /** every classified value in the data, to recognise a leak in a result */
  secrets: Set<string>;
  close: () => Promise<void>;
}

export async function openShop(): Promise<ShopFixture> {
  const db = await createScratchDatabase('sqlmask');
  const client = await pgClient(db.name);
  await client.query(EXTRA_SQL);
  const catalog = await Catalog.load(async (sql) => (await client.query(sql)).rows as Array<Record<string, string | null>>);
  const rows = (await client.query('select ssn, email, card_number from customers')).rows as Array<Record<string, string>>;
  const secrets = new Set(rows.flatMap((r) => [r['ssn'], r['email'], r['card_number']]).filter((v): v is string => !!v));
  return {
    client,
    catalog,
    secrets,
    close: async () => {
      await client.end();
      await db.drop();
    },
  };
}

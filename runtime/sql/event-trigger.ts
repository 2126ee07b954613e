/**
 * The SQL a DBA runs (as a superuser: event triggers need one) so the gateway's per-statement
 * catalog check is one row read instead of a scan of the user catalog: every DDL, in its own
 * transaction, bumps portcullis.catalog_epoch and notifies channel portcullis_catalog. Replace
 * :gateway_role with the target's `user`. docs/postgres-gateway.md prints the same text.
 */
export const EVENT_TRIGGER_SQL = `CREATE SCHEMA IF NOT EXISTS portcullis;
CREATE TABLE IF NOT EXISTS portcullis.catalog_epoch (n bigint NOT NULL);
INSERT INTO portcullis.catalog_epoch SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM portcullis.catalog_epoch);
REVOKE ALL ON portcullis.catalog_epoch FROM PUBLIC;
GRANT USAGE ON SCHEMA portcullis TO :gateway_role;
GRANT SELECT ON portcullis.catalog_epoch TO :gateway_role;
CREATE OR REPLACE FUNCTION portcullis.catalog_changed() RETURNS event_trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  UPDATE portcullis.catalog_epoch SET n = n + 1;
  PERFORM pg_notify('portcullis_catalog', '');
END $$;
DROP EVENT TRIGGER IF EXISTS portcullis_catalog_changed;
DROP EVENT TRIGGER IF EXISTS portcullis_catalog_dropped;
CREATE EVENT TRIGGER portcullis_catalog_changed ON ddl_command_end EXECUTE FUNCTION portcullis.catalog_changed();
CREATE EVENT TRIGGER portcullis_catalog_dropped ON sql_drop EXECUTE FUNCTION portcullis.catalog_changed();`;

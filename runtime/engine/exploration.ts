/**
 * What the policy actions `catalog` and `tableless` cover on PostgreSQL targets: the reads agents,
 * drivers and psql make to find their way around (`select 1`, `select version()`, `\dt`,
 * `\d customers`) and that reach no row of user data.
 *
 * The catalog is filtered the way PostgreSQL filters it for a role without special rights: system
 * relations PostgreSQL keeps from PUBLIC (pg_authid, pg_statistic, pg_user_mapping, pg_largeobject,
 * pg_file_settings ...) are not catalog reads, and neither are those a role may read but that carry
 * values of other relations or of other sessions (pg_stats and the other statistics, pg_stat_activity's
 * query texts, sequence values, settings). The gateway's backend role is often far more privileged
 * than an agent, so its own privileges are no filter. pg_catalog is an allow-list (new relations of a
 * newer PostgreSQL are not covered until they are judged here); information_schema, whose views
 * PostgreSQL filters by privilege itself, is covered except the user mapping views, which show
 * connection options (passwords included) to a privileged backend role.
 *
 * A statement is exploration only if every function it calls is harmless: pg_catalog-qualified (no
 * user can put a function there) or a well-known built-in, and none of those that read data without
 * naming a relation (large objects, sequences, statistics, other sessions, files, settings).
 * Anything else is an ordinary `select`, which the policy has to allow as such.
 */
import type { PostgresStatement } from './request.ts';

/** Policy actions on PostgreSQL targets that are not statement classes. */
export const ExplorationActions = ['catalog', 'tableless'] as const;
export type ExplorationAction = (typeof ExplorationActions)[number];

const PG_CATALOG_READABLE = new Set([
  // tables
  'pg_aggregate',
  'pg_am',
  'pg_amop',
  'pg_amproc',
  'pg_attrdef',
  'pg_attribute',
  'pg_auth_members',
  'pg_cast',
  'pg_class',
  'pg_collation',
  'pg_constraint',
  'pg_conversion',
  'pg_database',
  'pg_default_acl',
  'pg_depend',
  'pg_description',
  'pg_enum',
  'pg_event_trigger',
  'pg_extension',
  'pg_foreign_data_wrapper',
  'pg_foreign_server',
  'pg_foreign_table',
  'pg_index',
  'pg_inherits',
  'pg_init_privs',
  'pg_language',
  'pg_largeobject_metadata',
  'pg_namespace',
  'pg_opclass',
  'pg_operator',
  'pg_opfamily',
  'pg_parameter_acl',
  'pg_partitioned_table',
  'pg_policy',
  'pg_proc',
  'pg_publication',
  'pg_publication_namespace',
  'pg_publication_rel',
  'pg_range',
  'pg_rewrite',
  'pg_seclabel',
  'pg_sequence',
  'pg_shdepend',
  'pg_shdescription',
  'pg_shseclabel',
  'pg_statistic_ext',
  'pg_tablespace',
  'pg_transform',
  'pg_trigger',
  'pg_ts_config',
  'pg_ts_config_map',
  'pg_ts_dict',
  'pg_ts_parser',
  'pg_ts_template',
  'pg_type',
  // views
  'pg_tables',
  'pg_views',
  'pg_matviews',
  'pg_indexes',
  'pg_roles',
  'pg_user',
  'pg_group',
  'pg_rules',
  'pg_policies',
  'pg_publication_tables',
  'pg_seclabels',
  'pg_available_extensions',
  'pg_available_extension_versions',
  'pg_timezone_names',
  'pg_timezone_abbrevs',
]);

const INFORMATION_SCHEMA_HIDDEN = /user_mapping/;

/** Built-ins that read values without naming a relation, or other sessions' or the server's state. */
const VALUE_READING_FUNCTIONS = [
  /^lo_/,
  /^loread$/,
  /^pg_read_/,
  /^pg_stat_/,
  /^pg_ls_/,
  /^pg_mcv_list_items$/,
  /^(currval|nextval|setval|lastval)$/,
  /^pg_sequence_last_value$/,
  /^current_setting$/,
  /^pg_show_all_/,
  /^pg_hba_file_rules$/,
  /^pg_ident_file_mappings$/,
  /^pg_get_replication_slots$/,
  /^pg_prepared_statement$/,
  /^pg_cursor$/,
  /^pg_get_backend_memory_contexts$/,
  /^pg_get_shmem_allocations$/,
  /^pg_logical_/,
  /^dblink/,
  /_to_xml/,
  /^ts_stat$/,
  /^pg_options_to_table$/,
  /^pg_last_committed_xact$/,
  /^pg_get_wal_/,
  /^pg_walfile_/,
  /^pg_file/,
  /^pg_(try_)?advisory/,
];

/** Unqualified built-ins an exploring query may call (qualified pg_catalog.* ones are fine already). */
const WELL_KNOWN_FUNCTIONS = new Set([
  'now',
  'version',
  'current_database',
  'current_schema',
  'current_schemas',
  'current_user',
  'session_user',
  'pg_backend_pid',
  'inet_server_addr',
  'inet_server_port',
  'pg_postmaster_start_time',
  'pg_conf_load_time',
  'pg_is_in_recovery',
  'statement_timestamp',
  'clock_timestamp',
  'transaction_timestamp',
  'timeofday',
  'count',
  'min',
  'max',
  'sum',
  'avg',
  'array_agg',
  'string_agg',
  'bool_and',
  'bool_or',
  'lower',
  'upper',
  'length',
  'substring',
  'substr',
  'left',
  'right',
  'trim',
  'btrim',
  'ltrim',
  'rtrim',
  'replace',
  'regexp_replace',
  'split_part',
  'quote_ident',
  'quote_literal',
  'array_to_string',
  'unnest',
  'generate_series',
  'format_type',
  'obj_description',
  'col_description',
  'shobj_description',
  'has_table_privilege',
  'has_column_privilege',
  'has_schema_privilege',
  'has_database_privilege',
  'has_function_privilege',
  'pg_has_role',
  'pg_get_userbyid',
  'pg_table_is_visible',
  'pg_type_is_visible',
  'pg_function_is_visible',
  'pg_get_viewdef',
  'pg_get_indexdef',
  'pg_get_constraintdef',
  'pg_get_triggerdef',
  'pg_get_functiondef',
  'pg_get_function_arguments',
  'pg_get_function_result',
  'pg_get_expr',
  'pg_get_partkeydef',
  'pg_get_serial_sequence',
  'pg_size_pretty',
  'pg_relation_size',
  'pg_table_size',
  'pg_indexes_size',
  'pg_total_relation_size',
  'pg_database_size',
  'pg_encoding_to_char',
  'to_char',
  'pg_typeof',
  'to_regclass',
  'to_regtype',
  'to_regproc',
  'to_regnamespace',
  'pg_tablespace_location',
]);

function functionIsHarmless(name: string): boolean {
  const dot = name.lastIndexOf('.');
  const schema = dot < 0 ? undefined : name.slice(0, dot);
  const bare = dot < 0 ? name : name.slice(dot + 1);
  if (VALUE_READING_FUNCTIONS.some((re) => re.test(bare))) return false;
  return schema === 'pg_catalog' || (schema === undefined && WELL_KNOWN_FUNCTIONS.has(bare));
}

/** Is `schema.name` a catalog relation `catalog` covers? Unqualified names resolve to pg_catalog first. */
export function isExplorableCatalogRelation(schema: string | undefined, name: string): boolean {
  if (schema === 'information_schema') return !INFORMATION_SCHEMA_HIDDEN.test(name);
  // PostgreSQL searches pg_catalog before the search path (which agents cannot change).
  return (schema === undefined || schema === 'pg_catalog') && PG_CATALOG_READABLE.has(name);
}

/**
 * Whether the statement is a read that exploration actions may cover at all: a SELECT (with no
 * write and no lock) whose functions are all harmless.
 */
export function isExploringStatement(s: PostgresStatement): boolean {
  if (s.class !== 'select') return false;
  if (s.actions && s.actions.some((a) => a !== 'select')) return false;
  if (s.relations.some((r) => r.access !== 'read')) return false;
  return (s.functions ?? []).every(functionIsHarmless);
}

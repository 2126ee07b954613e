/**
 * Built-in PostgreSQL functions that matter to the gateway, by unqualified lower-case name. Matching
 * ignores the schema on purpose: a user function named like one of these is as suspicious as the
 * original, and a false alarm costs a refusal, not a leak.
 */

/**
 * Functions that act on the server, the file system, other sessions or other databases: a statement
 * calling one is class `admin` whatever else it does.
 *
 * pg_sleep is here by decision: it holds a backend connection and its locks for as long as the agent
 * asks, and it is the usual building block of timing oracles. Agents have no need for it.
 */
const ADMIN_EXACT = new Set([
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_signal_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_log_backend_memory_contexts',
  'set_config',
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
  'pg_logdir_ls',
  'lo_import',
  'lo_export',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
  'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_drop_replication_slot',
  'pg_copy_physical_replication_slot',
  'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance',
  'pg_logical_slot_get_changes',
  'pg_logical_slot_peek_changes',
  'pg_logical_slot_get_binary_changes',
  'pg_logical_slot_peek_binary_changes',
  'pg_logical_emit_message',
  'pg_import_system_collations',
  'pg_nextoid',
  'pg_stat_reset',
  'pg_stat_reset_shared',
  'pg_stat_reset_single_table_counters',
  'pg_stat_reset_single_function_counters',
  'pg_stat_reset_slru',
  'pg_stat_reset_replication_slot',
  'pg_stat_reset_subscription_stats',
  'ts_stat',
]);

const ADMIN_PREFIXES = [
  'dblink',
  'pg_ls_',
  'pg_replication_origin_',
  'query_to_xml',
  'table_to_xml',
  'cursor_to_xml',
  'database_to_xml',
  'schema_to_xml',
  'query_to_xmlschema',
  'table_to_xmlschema',
  'cursor_to_xmlschema',
  'database_to_xmlschema',
  'schema_to_xmlschema',
];

/**
 * Built-ins that run SQL given to them as text (or read a whole relation by name): the analyser
 * cannot see what they read, so under masks they are refused like user functions.
 */
const SQL_EXECUTING_PREFIXES = ['query_to_xml', 'table_to_xml', 'cursor_to_xml', 'database_to_xml', 'schema_to_xml', 'dblink', 'ts_stat'];

/**
 * Functions that read server files or a relation's storage: with them, the bytes of a table's heap
 * file (classified columns in clear) come back as a value no column origin covers. Refused while
 * masks apply, whatever the policy's actions allow (see mask-safety).
 */
const SERVER_FILE_EXACT = new Set([
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'pg_relation_filepath',
  'pg_relation_filenode',
  'pg_filenode_relation',
  'pg_tablespace_location',
  'pg_current_logfile',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
  'pg_logdir_ls',
  'pg_read_file_old',
  'lo_import',
  'lo_export',
  'lo_get',
  'lo_open',
  'loread',
  'lo_from_bytea',
  'lo_put',
  'lowrite',
  'lo_create',
  'lo_creat',
  'pg_walfile_name',
  'pg_walfile_name_offset',
  'pg_split_walfile_name',
  'pg_get_wal_resource_managers',
]);
const SERVER_FILE_PREFIXES = ['pg_ls_', 'pg_file_', 'pg_read_', 'pg_wal_', 'pg_walinspect', 'pg_get_wal_', 'bt_page', 'heap_page', 'get_raw_page', 'page_header', 'fsm_page'];

export function isServerFileFunction(name: string): boolean {
  const n = lastName(name);
  return SERVER_FILE_EXACT.has(n) || SERVER_FILE_PREFIXES.some((p) => n.startsWith(p));
}

export function lastName(name: string): string {
  const i = name.lastIndexOf('.');
  return (i < 0 ? name : name.slice(i + 1)).toLowerCase();
}

export function isAdminFunction(name: string): boolean {
  const n = lastName(name);
  return ADMIN_EXACT.has(n) || ADMIN_PREFIXES.some((p) => n.startsWith(p));
}

export function isSqlExecutingFunction(name: string): boolean {
  const n = lastName(name);
  return SQL_EXECUTING_PREFIXES.some((p) => n.startsWith(p));
}

/**
 * Functions that turn a whole row into one value (and so carry every column of it, classified ones
 * included, out of the origin the gateway masks by). Whole-row references are refused anyway; the
 * list makes the reason message precise.
 */
export const ROW_FUNCTIONS = new Set([
  'row_to_json',
  'to_json',
  'to_jsonb',
  'json_build_object',
  'jsonb_build_object',
  'hstore',
  'json_agg',
  'jsonb_agg',
  'array_agg',
  'string_agg',
  'format',
  'concat',
  'concat_ws',
]);

"""The read-only guard's tables: the node allow-list, the per-dialect function deny-lists, and
which dialects read with DESCRIBE, SHOW and PRAGMA.

Function calls (sqlglot ``exp.Func`` and its unknown-function ``exp.Anonymous``) are allowed
unless they are on the deny-list; every other node type must be listed in ``ALLOWED_NODES``.
Dialect names are sqlglot's (``postgres``, ``mysql``, ``sqlite``, ``hive``, ``trino``,
``duckdb``); None is the generic fallback, which applies every list.
"""

from __future__ import annotations

from sqlglot import exp

# Non-function nodes a read query may contain. Anything else (Insert, Update, Delete, Merge,
# Create, Drop, Alter, Copy, Into, Lock, Set, Command, Pragma, Transaction, ...) is rejected.
_ALLOWED_NAMES = (
    "Add Adjacent Alias Aliases All And Any ArrayContainedBy ArrayContains ArrayContainsAll "
    "ArrayOverlaps AtIndex AtTimeZone Between BitString BitwiseAnd BitwiseLeftShift BitwiseNot "
    "BitwiseOr BitwiseRightShift BitwiseXor Boolean Bracket ByteString CTE CaseStatement "
    "Changes CharacterSet Collate Column ColumnPrefix Comprehension Connect Cube DPipe DataType "
    "DataTypeParam Distance Distinct Div Dot EQ Escape Except Exists ExtendsLeft ExtendsRight "
    "Fetch Filter Final FormatJson FormatPhrase From FromTimeZone GT GTE Glob Group "
    "GroupingSets Having HavingMax Heredoc HexString Hint HistoricalData ILike Identifier "
    "IgnoreNulls In IndexTableHint IntDiv Intersect Interval IntervalSpan Introducer Is "
    "JSONArrayContains JSONBContains JSONBContainsAllTopKeys JSONBContainsAnyTopKeys "
    "JSONBContainsTopKey JSONBExtract JSONBExtractScalar JSONBPathExists JSONColumnDef "
    "JSONExtract JSONExtractQuote JSONExtractScalar JSONKeyValue JSONPath JSONPathFilter "
    "JSONPathKey JSONPathRecursive JSONPathRoot JSONPathScript JSONPathSelector JSONPathSlice "
    "JSONPathSubscript JSONPathUnion JSONPathWildcard JSONSchema JSONValue Join JoinHint Kwarg "
    "LT LTE Lambda Lateral Like Limit LimitOptions Literal Match MatchRecognize "
    "MatchRecognizeMeasure Mod Mul NEQ National Nearest Neg NestedJSONSelect Not Null "
    "NullSafeEQ NullSafeNEQ ObjectIdentifier Offset OnCondition Operator Or Order Ordered "
    "Overlaps Parameter Paren Partition Pivot PivotAlias Placeholder PositionalColumn Pow "
    "PreWhere Prior PropertyEQ PseudoType Pseudocolumn Qualify RawString RecursiveWithSearch "
    "RegexpFullMatch RegexpILike RegexpLike RespectNulls Rollup ScopeResolution Select "
    "SessionParameter SimilarTo Slice Star Sub Subquery Table TableAlias TableFromRows "
    "TableSample TranslateCharacters Tuple UnicodeString Union UnpivotColumns Values Var "
    "Version When Where Window WindowSpec With WithFill WithTableHint WithinGroup "
    "XMLKeyValueOption XMLNamespace Xor"
).split()
ALLOWED_NODES: frozenset[type[exp.Expression]] = frozenset(
    getattr(exp, name) for name in _ALLOWED_NAMES if hasattr(exp, name)
)

# Function classes sqlglot knows that write, read files or touch sequences.
DENIED_FUNCTION_CLASSES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("NextValueFor", "ReadCSV", "ReadParquet", "ToFile") if hasattr(exp, name)
)

# Side-effecting functions per dialect (lower case; a schema prefix does not matter).
DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        (
            "binary_upgrade_set_next_pg_type_oid cursor_to_xml cursor_to_xmlschema dblink "
            "dblink_connect dblink_connect_u dblink_disconnect dblink_exec dblink_fetch "
            "dblink_get_result dblink_open dblink_send_query lo_creat lo_create lo_export lo_from_bytea "
            "lo_get lo_import lo_open lo_put lo_truncate lo_truncate64 lo_unlink lo_write loread "
            "lowrite nextval pg_advisory_lock pg_advisory_lock_shared pg_advisory_unlock "
            "pg_advisory_unlock_all pg_advisory_unlock_shared pg_advisory_xact_lock "
            "pg_advisory_xact_lock_shared pg_backup_start pg_backup_stop pg_cancel_backend "
            "pg_copy_logical_replication_slot pg_copy_physical_replication_slot "
            "pg_create_logical_replication_slot pg_create_physical_replication_slot "
            "pg_create_restore_point pg_create_subscription pg_current_xact_id pg_drop_replication_slot "
            "pg_file_rename pg_file_sync pg_file_unlink pg_file_write pg_import_system_collations "
            "pg_log_backend_memory_contexts pg_logdir_ls pg_logical_emit_message "
            "pg_logical_slot_get_changes pg_ls_archive_statusdir pg_ls_dir pg_ls_logdir pg_ls_tmpdir "
            "pg_ls_waldir pg_notify pg_promote pg_read_binary_file pg_read_file pg_reload_conf "
            "pg_replication_slot_advance pg_rotate_logfile pg_sequence_last_value pg_signal_backend "
            "pg_start_backup pg_stat_file pg_stat_reset pg_stat_reset_shared "
            "pg_stat_reset_single_function_counters pg_stat_reset_single_table_counters "
            "pg_stat_reset_slru pg_stat_statements_reset pg_stop_backup pg_switch_wal pg_switch_xlog "
            "pg_terminate_backend pg_try_advisory_lock pg_try_advisory_lock_shared "
            "pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared pg_wal_replay_pause "
            "pg_wal_replay_resume query_to_xml query_to_xml_and_xmlschema query_to_xmlschema set_config "
            "setval txid_current"
        ).split()
    ),
    "mysql": frozenset(
        (
            "benchmark get_lock last_insert_id lastval load_file master_pos_wait name_const nextval "
            "release_all_locks release_lock set_user_var setval source_pos_wait sys_eval sys_exec "
            "wait_for_executed_gtid_set wait_until_sql_thread_after_gtids"
        ).split()
    ),
    "sqlite": frozenset(("edit fts3_tokenizer load_extension readfile writefile zipfile").split()),
    "hive": frozenset(("in_file java_method reflect reflect2").split()),
    "trino": frozenset(),
    "duckdb": frozenset(
        (
            "delta_scan getenv glob iceberg_scan mysql_execute mysql_query nextval parquet_metadata "
            "parquet_scan parquet_schema postgres_attach postgres_execute postgres_query postgres_scan "
            "query query_table read_blob read_csv read_csv_auto read_json read_json_auto "
            "read_json_objects read_ndjson read_ndjson_objects read_parquet read_text setval sniff_csv "
            "sqlite_attach sqlite_scan"
        ).split()
    ),
}
ALL_DENIED_FUNCTIONS = frozenset().union(*DENIED_FUNCTIONS.values())


def denied_functions(dialect: str | None) -> frozenset[str]:
    """The dialect's deny-list; the generic fallback (None or unknown) applies every list."""
    own = DENIED_FUNCTIONS.get(dialect or "")
    return ALL_DENIED_FUNCTIONS if own is None else own


# Statements that only read in these dialects.
DESCRIBE_DIALECTS = frozenset({"mysql", "hive", "spark", "trino", "duckdb", None})
SHOW_DIALECTS = frozenset({"mysql", "postgres", "hive", "spark", "trino", "duckdb", None})
EXPLAIN_OPTION_WORDS = frozenset(
    (
        "AST AUTHORIZATION BUFFERS CBO COSTS DEPENDENCY DISTRIBUTED EXTENDED FALSE FORMAT FORMATTED "
        "GENERIC_PLAN GRAPHVIZ IO JSON LOCKS LOGICAL MEMORY NONE OFF ON PARTITIONS PLAN QUERY "
        "SERIALIZE SETTINGS SUMMARY TEXT TIMING TRADITIONAL TREE TRUE TYPE VALIDATE VECTORIZATION "
        "VERBOSE WAL XML YAML"
    ).split()
)
SQLITE_READ_PRAGMAS = frozenset(
    (
        "application_id collation_list compile_options database_list encoding foreign_key_list "
        "freelist_count function_list index_info index_list index_xinfo module_list page_count "
        "page_size pragma_list schema_version table_info table_list table_xinfo user_version"
    ).split()
)

"""The read-only guard's tables: the node allow-list, the per-dialect function deny-lists, the
PostgreSQL volatility rule's reviewed names, the relations and settings that expose server files,
credentials or other sessions' SQL, and which dialects read with DESCRIBE, SHOW and PRAGMA.

Every node type must be listed in ``ALLOWED_NODES`` except function calls (sqlglot ``exp.Func``
and its unknown-function ``exp.Anonymous``). On PostgreSQL a call must be vouched for by the
database's own catalog (``engine.common.read_policy.FunctionPolicy``: immutable or stable, or a
volatile name in :data:`PG_REVIEWED_VOLATILE`); elsewhere a call is allowed unless it is on the
deny-list. The deny-lists stay a second net on PostgreSQL too.
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
            "setval txid_current "
            # found by the red team: persist past a rollback, or read server files and settings
            "brin_desummarize_range brin_summarize_new_values brin_summarize_range gin_clean_pending_list "
            "pg_nextoid pg_replication_origin_create pg_replication_origin_drop pg_ls_logicalmapdir "
            "pg_ls_logicalsnapdir pg_ls_replslotdir pg_hba_file_rules pg_ident_file_mappings "
            "pg_show_all_file_settings pg_show_all_settings pg_config pg_current_logfile "
            "pg_control_checkpoint pg_control_init pg_control_recovery pg_control_system "
            # stable, yet they read whole tables by name or other sessions' SQL
            "database_to_xml database_to_xml_and_xmlschema database_to_xmlschema schema_to_xml "
            "schema_to_xml_and_xmlschema schema_to_xmlschema table_to_xml table_to_xml_and_xmlschema "
            "table_to_xmlschema pg_stat_get_activity pg_stat_get_backend_activity pg_stat_get_wal_receiver "
            "pg_stat_statements pg_stat_statements_info ts_rewrite ts_stat"
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


# Whole families, by name prefix or suffix (PostgreSQL; also applied by the generic fallback).
PG_DENIED_PREFIXES = (
    "binary_upgrade_ brin_desummarize brin_summarize dblink lo_ pg_advisory pg_control_ pg_copy_ "
    "pg_create_ pg_drop_ pg_file_ pg_logical_ pg_ls_ pg_read_ pg_replication_origin pg_show_all_ "
    "pg_stat_file pg_stat_reset pg_stat_statements pg_try_advisory"
).split()
PG_DENIED_SUFFIXES = ("_to_xml", "_to_xmlschema", "_to_xml_and_xmlschema")


def denied_functions(dialect: str | None) -> frozenset[str]:
    """The dialect's deny-list; the generic fallback (None or unknown) applies every list."""
    own = DENIED_FUNCTIONS.get(dialect or "")
    return ALL_DENIED_FUNCTIONS if own is None else own


def is_denied_function(name: str, dialect: str | None) -> bool:
    """True when ``name`` (any case) is on the dialect's deny-list or in a denied PostgreSQL family."""
    lowered = name.lower()
    if lowered in denied_functions(dialect):
        return True
    if dialect not in ("postgres", None) and dialect in DENIED_FUNCTIONS:
        return False
    return lowered.startswith(tuple(PG_DENIED_PREFIXES)) or lowered.endswith(PG_DENIED_SUFFIXES)


# --- PostgreSQL: the catalog's volatility contract -----------------------------------------------
# Volatile functions reviewed one by one and found harmless for a read: no writes, locks, files,
# session state or secrets. Allowed unqualified or as pg_catalog.<name>, and only while no other
# schema defines a volatile function of the same name.
PG_REVIEWED_VOLATILE = frozenset(
    (
        # randomness and the wall clock
        "clock_timestamp gen_random_uuid random timeofday "
        # sizes of relations, databases and tablespaces (a stat() of their files, no contents)
        "pg_database_size pg_indexes_size pg_relation_size pg_table_size pg_tablespace_size "
        "pg_total_relation_size "
        # walks of the partition catalog
        "pg_partition_ancestors pg_partition_tree "
        # waiting: bounded by query.timeout and cancellable, like any slow query
        "pg_sleep pg_sleep_for pg_sleep_until"
    ).split()
)
# Unqualified, unquoted names PostgreSQL's grammar reads as SQL syntax, not as a function looked
# up on the search path (they evaluate to expressions or to fixed pg_catalog functions).
PG_SYNTAX_NAMES = frozenset(
    (
        "array cast coalesce collation current_date current_time current_timestamp exists extract "
        "greatest grouping least localtime localtimestamp normalize nullif overlay position row "
        "substring treat trim xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlparse xmlpi "
        "xmlroot xmlserialize xmltable"
    ).split()
)
# A call to one of these must name a setting with a string literal that is not secret.
PG_SETTING_READERS = frozenset({"current_setting"})

# --- relations and settings that expose server files, credentials or other sessions' SQL ---------
# PostgreSQL relations (any schema, any case). pg_settings: settings can hold credentials
# (primary_conninfo, archive/restore commands), use SHOW <name> or current_setting('<name>');
# pg_stat_activity/pg_stat_statements: other sessions' SQL text, including other users of this
# engine (they share the datasource account); pg_statistic/pg_stats*: sampled column values of
# every readable table, credential columns included for a privileged account.
PG_DENIED_RELATIONS = frozenset(
    (
        "_pg_user_mappings pg_authid pg_config pg_db_role_setting pg_file_settings pg_hba_file_rules "
        "pg_ident_file_mappings pg_settings pg_shadow pg_stat_activity pg_stat_statements "
        "pg_stat_statements_info pg_stat_wal_receiver pg_statistic pg_statistic_ext_data pg_stats "
        "pg_stats_ext pg_stats_ext_exprs pg_subscription pg_user_mapping pg_user_mappings "
        "user_mapping_options user_mappings"
    ).split()
)
# PostgreSQL settings that name server files, hold commands or connection strings (SHOW,
# current_setting). SHOW ALL and custom (dotted) settings are refused too.
PG_SECRET_SETTINGS = frozenset(
    (
        "archive_cleanup_command archive_command archive_library config_file data_directory "
        "dynamic_library_path external_pid_file hba_file ident_file krb_server_keyfile log_directory "
        "primary_conninfo primary_slot_name promote_trigger_file recovery_end_command restore_command "
        "ssl_ca_file ssl_cert_file ssl_crl_dir ssl_crl_file ssl_dh_params_file ssl_key_file "
        "ssl_passphrase_command unix_socket_directories"
    ).split()
)
# PostgreSQL SHOW forms of more than one word.
PG_SHOW_PHRASES = frozenset(
    {("TIME", "ZONE"), ("TRANSACTION", "ISOLATION", "LEVEL"), ("SESSION", "AUTHORIZATION")}
)

# MySQL/MariaDB: whole databases (accounts, grants, other sessions' statements) and the
# information_schema tables of privileges and other sessions' SQL or locked row values.
MYSQL_DENIED_SCHEMAS = frozenset({"mysql", "performance_schema", "sys"})
MYSQL_DENIED_INFORMATION_SCHEMA = frozenset(
    (
        "applicable_roles client_statistics column_privileges enabled_roles innodb_lock_waits "
        "innodb_locks innodb_trx processlist query_cache_info query_response_time schema_privileges "
        "table_privileges user_privileges user_statistics users"
    ).split()
)
# MySQL/MariaDB SHOW forms that read schema metadata only (no grants, accounts, other sessions,
# logs or server internals). Each maps its leading words to what may follow:
#   "object": a table or view name right after the words (SHOW CREATE TABLE t);
#   "target": FROM|IN <table> (SHOW COLUMNS FROM t);  "source": [FROM|IN <database>];
#   "like": [LIKE '<pattern>'].  A WHERE clause is never accepted here.
MYSQL_SHOW_FORMS: dict[tuple[str, ...], frozenset[str]] = {
    ("TABLES",): frozenset({"source", "like"}),
    ("FULL", "TABLES"): frozenset({"source", "like"}),
    ("DATABASES",): frozenset({"like"}),
    ("SCHEMAS",): frozenset({"like"}),
    ("COLUMNS",): frozenset({"target", "source", "like"}),
    ("FULL", "COLUMNS"): frozenset({"target", "source", "like"}),
    ("FIELDS",): frozenset({"target", "source", "like"}),
    ("FULL", "FIELDS"): frozenset({"target", "source", "like"}),
    ("INDEX",): frozenset({"target", "source"}),
    ("INDEXES",): frozenset({"target", "source"}),
    ("KEYS",): frozenset({"target", "source"}),
    ("EXTENDED", "INDEX"): frozenset({"target", "source"}),
    ("CREATE", "TABLE"): frozenset({"object"}),
    ("CREATE", "VIEW"): frozenset({"object"}),
    ("TABLE", "STATUS"): frozenset({"source", "like"}),
    ("CHARACTER", "SET"): frozenset({"like"}),
    ("CHARSET",): frozenset({"like"}),
    ("COLLATION",): frozenset({"like"}),
    ("ENGINES",): frozenset(),
    ("STORAGE", "ENGINES"): frozenset(),
    ("WARNINGS",): frozenset(),
    ("ERRORS",): frozenset(),
}


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

"""Metadata RPCs (GetCatalogs, GetSchemas, GetTables, GetTableTypes, GetColumns, GetTypeInfo,
GetFunctions, GetPrimaryKeys, GetCrossReference) answered from the datasource's real catalog.

Result columns, their order and their types are the ones the Hive JDBC driver reads (Hive's
``Get*Operation`` result schemas, which follow ``java.sql.DatabaseMetaData``). Each operation
runs synchronously, as HiveServer2's metadata operations do: the RPC returns once rows are ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.common.catalog import ColumnInfo
from engine.common.errors import UnsupportedError
from engine.common.handle import OperationType
from engine.common.types import ColumnSpec, HiveType, Row, TableSchema
from engine.operation.context import OperationContext
from engine.operation.operation import Operation
from engine.tools.port import CatalogView

# Arguments of a metadata RPC by snake_case name: patterns and names, or a list of table types.
MetadataArguments = dict[str, str | list[str] | None]

log = logging.getLogger(__name__)


def _schema(spec: str) -> TableSchema:
    """``"NAME[:TYPE] ..."``, STRING unless a Hive type name follows the colon."""
    columns = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        columns.append(ColumnSpec(name, HiveType[kind] if kind else HiveType.STRING))
    return TableSchema(tuple(columns))


CATALOGS_SCHEMA = _schema("TABLE_CAT")
SCHEMAS_SCHEMA = _schema("TABLE_SCHEM TABLE_CATALOG")
TABLE_TYPES_SCHEMA = _schema("TABLE_TYPE")
TABLES_SCHEMA = _schema(
    "TABLE_CAT TABLE_SCHEM TABLE_NAME TABLE_TYPE REMARKS TYPE_CAT TYPE_SCHEM TYPE_NAME "
    "SELF_REFERENCING_COL_NAME REF_GENERATION"
)
COLUMNS_SCHEMA = _schema(
    "TABLE_CAT TABLE_SCHEM TABLE_NAME COLUMN_NAME DATA_TYPE:INT TYPE_NAME COLUMN_SIZE:INT "
    "BUFFER_LENGTH:TINYINT DECIMAL_DIGITS:INT NUM_PREC_RADIX:INT NULLABLE:INT REMARKS COLUMN_DEF "
    "SQL_DATA_TYPE:INT SQL_DATETIME_SUB:INT CHAR_OCTET_LENGTH:INT ORDINAL_POSITION:INT IS_NULLABLE "
    "SCOPE_CATALOG SCOPE_SCHEMA SCOPE_TABLE SOURCE_DATA_TYPE:SMALLINT IS_AUTO_INCREMENT"
)
TYPE_INFO_SCHEMA = _schema(
    "TYPE_NAME DATA_TYPE:INT PRECISION:INT LITERAL_PREFIX LITERAL_SUFFIX CREATE_PARAMS NULLABLE:SMALLINT "
    "CASE_SENSITIVE:BOOLEAN SEARCHABLE:SMALLINT UNSIGNED_ATTRIBUTE:BOOLEAN FIXED_PREC_SCALE:BOOLEAN "
    "AUTO_INCREMENT:BOOLEAN LOCAL_TYPE_NAME MINIMUM_SCALE:SMALLINT MAXIMUM_SCALE:SMALLINT SQL_DATA_TYPE:INT "
    "SQL_DATETIME_SUB:INT NUM_PREC_RADIX:INT"
)
FUNCTIONS_SCHEMA = _schema(
    "FUNCTION_CAT FUNCTION_SCHEM FUNCTION_NAME REMARKS FUNCTION_TYPE:INT SPECIFIC_NAME"
)
PRIMARY_KEYS_SCHEMA = _schema("TABLE_CAT TABLE_SCHEM TABLE_NAME COLUMN_NAME KEY_SEQ:INT PK_NAME")
# "KEQ_SEQ" is Hive's own spelling in GetCrossReference; the Hive JDBC driver reads it by position.
CROSS_REFERENCE_SCHEMA = _schema(
    "PKTABLE_CAT PKTABLE_SCHEM PKTABLE_NAME PKCOLUMN_NAME FKTABLE_CAT FKTABLE_SCHEM FKTABLE_NAME "
    "FKCOLUMN_NAME KEQ_SEQ:INT UPDATE_RULE:INT DELETE_RULE:INT FK_NAME PK_NAME DEFERRABILITY:INT"
)

HIVE_CATALOG = ""  # Hive's TABLE_CAT / TABLE_CATALOG in GetSchemas and GetTables

# --- java.sql.Types and Hive's type descriptors ------------------------------------------------
# fmt: off
JAVA_TYPES = {
    HiveType.BOOLEAN: 16, HiveType.TINYINT: -6, HiveType.SMALLINT: 5, HiveType.INT: 4, HiveType.BIGINT: -5,
    HiveType.FLOAT: 6, HiveType.DOUBLE: 8, HiveType.STRING: 12, HiveType.VARCHAR: 12, HiveType.CHAR: 1,
    HiveType.DATE: 91, HiveType.TIMESTAMP: 93, HiveType.BINARY: -2, HiveType.DECIMAL: 3, HiveType.NULL: 0,
}
_MAX_PRECISION = {
    HiveType.TINYINT: 3, HiveType.SMALLINT: 5, HiveType.INT: 10, HiveType.BIGINT: 19, HiveType.FLOAT: 7,
    HiveType.DOUBLE: 15, HiveType.DECIMAL: 38, HiveType.STRING: 2**31 - 1, HiveType.VARCHAR: 65535,
    HiveType.CHAR: 255, HiveType.DATE: 10, HiveType.TIMESTAMP: 29, HiveType.BINARY: 2**31 - 1,
}
_NUMERIC = {HiveType.TINYINT, HiveType.SMALLINT, HiveType.INT, HiveType.BIGINT, HiveType.FLOAT, HiveType.DOUBLE,
            HiveType.DECIMAL}
# fmt: on


def column_size(spec: ColumnSpec) -> int | None:
    if spec.type is HiveType.DECIMAL:
        return spec.precision or 38
    if spec.type in (HiveType.VARCHAR, HiveType.CHAR):
        return spec.max_length or _MAX_PRECISION[spec.type]
    if spec.type is HiveType.BOOLEAN or spec.type is HiveType.NULL:
        return None
    return _MAX_PRECISION.get(spec.type)


def decimal_digits(spec: ColumnSpec) -> int | None:
    if spec.type in (HiveType.BOOLEAN, HiveType.TINYINT, HiveType.SMALLINT, HiveType.INT, HiveType.BIGINT):
        return 0
    if spec.type in (HiveType.FLOAT, HiveType.DOUBLE):
        return _MAX_PRECISION[spec.type]
    if spec.type is HiveType.DECIMAL:
        return spec.scale or 0
    if spec.type is HiveType.TIMESTAMP:
        return 9
    return None


def type_name(spec: ColumnSpec) -> str:
    """GetColumns' TYPE_NAME: the Hive type name with qualifiers, upper case (``DECIMAL(10,2)``)."""
    if spec.type is HiveType.DECIMAL:
        return f"DECIMAL({spec.precision or 38},{spec.scale or 0})"
    if spec.type in (HiveType.VARCHAR, HiveType.CHAR) and spec.max_length:
        return f"{spec.type.type_name}({spec.max_length})"
    return spec.type.type_name


# --- operations ---------------------------------------------------------------------------------
class MetadataOperation(Operation):
    """One metadata RPC: ``rows()`` reads the catalog; rows land in the buffer in one go."""

    schema: TableSchema = CATALOGS_SCHEMA

    def __init__(self, ctx: OperationContext, arguments: MetadataArguments) -> None:
        super().__init__(ctx, type(self).__name__, schema=self.schema, run_async=False)
        self.arguments = arguments

    def arg(self, name: str) -> str | None:
        value = self.arguments.get(name)
        return value if isinstance(value, str) else None

    def arg_list(self, name: str) -> list[str] | None:
        value = self.arguments.get(name)
        return value if isinstance(value, list) else None

    @property
    def catalog(self) -> CatalogView:
        if self.ctx.catalog is None:
            raise UnsupportedError(f"{type(self).__name__} needs a datasource catalog; none is configured")
        return self.ctx.catalog

    def run_internal(self) -> None:
        rows = self.rows()
        self.buffer.extend(rows)
        log.info("%s returned %d rows", type(self).__name__, len(rows))

    def rows(self) -> list[Row]:  # pragma: no cover - abstract
        raise NotImplementedError


class GetCatalogs(MetadataOperation):
    """Like HiveServer2: no catalog level; schemas carry an empty TABLE_CAT."""

    op_type = OperationType.GET_CATALOGS
    schema = CATALOGS_SCHEMA

    def rows(self) -> list[Row]:
        return []


class GetSchemas(MetadataOperation):
    op_type = OperationType.GET_SCHEMAS
    schema = SCHEMAS_SCHEMA

    def rows(self) -> list[Row]:
        return [(name, HIVE_CATALOG) for name in self.catalog.search_schemas(self.arg("schema_name"))]


class GetTableTypes(MetadataOperation):
    op_type = OperationType.GET_TABLE_TYPES
    schema = TABLE_TYPES_SCHEMA

    def rows(self) -> list[Row]:
        return [(kind,) for kind in self.catalog.table_types]


class GetTables(MetadataOperation):
    op_type = OperationType.GET_TABLES
    schema = TABLES_SCHEMA

    def rows(self) -> list[Row]:
        tables = self.catalog.search_tables(
            self.arg("schema_name"), self.arg("table_name"), self.arg_list("table_types"), self.cancel_token
        )
        return [
            (HIVE_CATALOG, t.schema, t.name, t.kind, t.remarks, None, None, None, None, None) for t in tables
        ]


class GetColumns(MetadataOperation):
    op_type = OperationType.GET_COLUMNS
    schema = COLUMNS_SCHEMA

    def rows(self) -> list[Row]:
        found = self.catalog.search_columns(
            self.arg("schema_name"), self.arg("table_name"), self.arg("column_name"), self.cancel_token
        )
        return [_column_row(table.schema, table.name, column) for table, column in found]


def _column_row(schema_name: str, table_name: str, column: ColumnInfo) -> Row:
    spec = column.spec
    return (
        None,
        schema_name,
        table_name,
        spec.name,
        JAVA_TYPES.get(spec.type, 1111),
        type_name(spec),
        column_size(spec),
        None,
        decimal_digits(spec),
        10 if spec.type in _NUMERIC else None,
        1 if column.nullable else 0,
        spec.comment or None,
        column.default,
        None,
        None,
        column_size(spec) if spec.type in (HiveType.VARCHAR, HiveType.CHAR) else None,
        column.ordinal,
        "YES" if column.nullable else "NO",
        None,
        None,
        None,
        None,
        "YES" if column.autoincrement else "NO",
    )


class GetTypeInfo(MetadataOperation):
    op_type = OperationType.GET_TYPE_INFO
    schema = TYPE_INFO_SCHEMA

    def rows(self) -> list[Row]:
        out = []
        for kind in (
            HiveType.NULL,
            HiveType.BOOLEAN,
            HiveType.TINYINT,
            HiveType.SMALLINT,
            HiveType.INT,
            HiveType.BIGINT,
            HiveType.FLOAT,
            HiveType.DOUBLE,
            HiveType.STRING,
            HiveType.CHAR,
            HiveType.VARCHAR,
            HiveType.DATE,
            HiveType.TIMESTAMP,
            HiveType.BINARY,
            HiveType.DECIMAL,
        ):
            textual = kind in (HiveType.STRING, HiveType.CHAR, HiveType.VARCHAR)
            quoted = textual or kind in (HiveType.DATE, HiveType.TIMESTAMP)
            params = {
                HiveType.DECIMAL: "PRECISION,SCALE",
                HiveType.CHAR: "LENGTH",
                HiveType.VARCHAR: "LENGTH",
            }
            out.append(
                (
                    kind.type_name,
                    JAVA_TYPES[kind],
                    _MAX_PRECISION.get(kind),
                    "'" if quoted else None,
                    "'" if quoted else None,
                    params.get(kind),
                    1,
                    textual,
                    3 if textual else 2,
                    kind not in _NUMERIC,
                    False,
                    False,
                    None,
                    0,
                    38 if kind is HiveType.DECIMAL else 0,
                    None,
                    None,
                    10 if kind in _NUMERIC else None,
                )
            )
        return out


class GetFunctions(MetadataOperation):
    """The datasource's functions are not listed (SQLAlchemy cannot inspect them): no rows."""

    op_type = OperationType.GET_FUNCTIONS
    schema = FUNCTIONS_SCHEMA

    def rows(self) -> list[Row]:
        return []


class GetPrimaryKeys(MetadataOperation):
    op_type = OperationType.GET_FUNCTIONS  # HiveServer2 reports key lookups as GET_FUNCTIONS
    schema = PRIMARY_KEYS_SCHEMA

    def rows(self) -> list[Row]:
        table_name = self.arg("table_name")
        if not table_name:
            return []
        catalog = self.catalog
        table = catalog.find_table(self.arg("schema_name"), table_name)
        name, columns = catalog.primary_key(table.schema, table.name)
        return [
            (HIVE_CATALOG, table.schema, table.name, column, seq, name)
            for seq, column in enumerate(columns, 1)
        ]


class GetCrossReference(MetadataOperation):
    op_type = OperationType.GET_FUNCTIONS
    schema = CROSS_REFERENCE_SCHEMA

    def rows(self) -> list[Row]:
        catalog = self.catalog
        foreign_name, parent_name = self.arg("foreign_table_name"), self.arg("parent_table_name")
        if not foreign_name:
            return []
        foreign = catalog.find_table(self.arg("foreign_schema_name"), foreign_name)
        parent = catalog.find_table(self.arg("parent_schema_name"), parent_name) if parent_name else None
        out: list[Row] = []
        for key in catalog.foreign_keys(foreign.schema, foreign.name):
            if parent is not None and (key.referred_schema, key.referred_table) != (
                parent.schema,
                parent.name,
            ):
                continue
            for seq, (fk_column, pk_column) in enumerate(
                zip(key.columns, key.referred_columns, strict=False), 1
            ):
                out.append(
                    (
                        HIVE_CATALOG,
                        key.referred_schema,
                        key.referred_table,
                        pk_column,
                        HIVE_CATALOG,
                        key.schema,
                        key.table,
                        fk_column,
                        seq,
                        3,
                        3,
                        key.name,
                        None,
                        7,  # importedKeyNoAction, NotDeferrable
                    )
                )
        return out


OPERATIONS: dict[str, Callable[[OperationContext, MetadataArguments], Operation]] = {
    cls.__name__: cls
    for cls in (
        GetCatalogs,
        GetSchemas,
        GetTableTypes,
        GetTables,
        GetColumns,
        GetTypeInfo,
        GetFunctions,
        GetPrimaryKeys,
        GetCrossReference,
    )
}


def create_metadata_operation(ctx: OperationContext, kind: str, arguments: MetadataArguments) -> Operation:
    factory = OPERATIONS.get(kind)
    if factory is None:
        raise UnsupportedError(f"{kind} is not supported by this engine")
    return factory(ctx, dict(arguments))

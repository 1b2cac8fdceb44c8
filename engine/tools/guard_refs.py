"""What a read may call and read: the read-only guard's checks of function calls and relations.

Two passes, both fail closed.

1. The parse tree (:func:`check_tree`): every node is a read node on the allow-list or a
   function call, and a call passes the dialect's rule.

   - PostgreSQL: the function's name *as written* and its schema qualifier must be vouched for
     by the database's own catalog (:class:`~engine.common.read_policy.FunctionPolicy`, read
     from ``pg_proc``): every overload of the name (in that schema, or in every schema when the
     call is unqualified) immutable or stable, or a reviewed harmless volatile name. sqlglot
     keeps the position of the name token on every call it parses by name, so the check sees
     ``now`` and not sqlglot's ``CURRENT_TIMESTAMP``. Unqualified SQL syntax forms (COALESCE,
     CAST, EXTRACT...) are not function lookups; calls sqlglot builds from operators or special
     syntax (``->>``, ``ARRAY[...]``, ``x::int``) carry no name and look up no function by name.
     ``current_setting`` must name a setting that is not secret, with a literal. Without the
     catalog every named call is refused.
   - elsewhere: the dialect's deny-list.

   MySQL table references must not reach the ``mysql``, ``performance_schema`` or ``sys``
   databases, nor information_schema's privilege and process tables.
2. The statement's tokens (:func:`check_tokens`), a net for what the tree may not show: sqlglot
   drops surplus arguments of some functions (``LENGTH(a, GET_LOCK(...))``), keeps no name for
   calls it parses as special syntax (``string_agg``, ``date_part``), and PostgreSQL calls a
   one-argument function written as a column (``t.fn``). Every name followed by ``(`` that is
   denied, or (PostgreSQL) that has a volatile overload nobody reviewed, is refused; so is every
   mention of a denied PostgreSQL relation and every ``mysql.``, ``performance_schema.`` or
   ``sys.`` qualifier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from engine.common.read_policy import FunctionPolicy, ReadPolicy, Volatility
from engine.tools.guard_error import reject
from engine.tools.guard_rules import (
    ALLOWED_NODES,
    DENIED_FUNCTION_CLASSES,
    MYSQL_DENIED_INFORMATION_SCHEMA,
    MYSQL_DENIED_SCHEMAS,
    PG_DENIED_RELATIONS,
    PG_REVIEWED_VOLATILE,
    PG_SECRET_SETTINGS,
    PG_SETTING_READERS,
    PG_SYNTAX_NAMES,
    is_denied_function,
)

_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# literals never name anything, whatever their text
_LITERALS = frozenset(t for t in TokenType if t.name.endswith("STRING")) | {TokenType.NUMBER}
# names sqlglot's PostgreSQL parser turns into calls that keep no name position
_PG_PARSED_BY_NAME = frozenset(
    name.lower() for name in sqlglot.Dialect.get_or_raise("postgres").parser_class.FUNCTION_PARSERS
)
_LABELS: dict[type[exp.Expr], str] = {
    exp.Into: "SELECT ... INTO",
    exp.Lock: "FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE",
    exp.Command: "a statement sqlglot cannot analyse",
    exp.PropertyEQ: "an assignment",
}


class TokenLike(Protocol):
    """A token of the statement: its sqlglot type and text (quotes removed from identifiers)."""

    @property
    def token_type(self) -> TokenType: ...

    @property
    def text(self) -> str: ...


# --- the parse tree ----------------------------------------------------------------------------
def check_tree(root: exp.Expr, text: str, dialect: str | None, policy: ReadPolicy) -> None:
    """Raise ReadOnlyViolationError unless every node of ``root`` (parsed from ``text``) may run."""
    for node in root.walk():
        if isinstance(node, exp.Func):
            _check_call(node, text, dialect, policy)
            continue
        if type(node) not in ALLOWED_NODES:
            raise reject(f"{node_label(node)} is not allowed in a read-only query")
        if isinstance(node, exp.PropertyEQ) and dialect in ("mysql", None):
            raise reject("assignments (:=) are not allowed in a read-only query")
        if (
            isinstance(node, exp.Table)
            and dialect in ("mysql", None)
            and isinstance(node.this, exp.Identifier)
        ):
            database = node.args.get("db")
            schema = database.name if isinstance(database, exp.Identifier) else policy.default_schema
            check_mysql_object(schema, node.name)


def node_label(node: exp.Expr) -> str:
    label = _LABELS.get(type(node))
    return label if label else str(node.key).upper().replace("_", " ")


def _check_call(node: exp.Func, text: str, dialect: str | None, policy: ReadPolicy) -> None:
    name = _function_name(node)
    if not _PLAIN_NAME.fullmatch(name):
        raise reject(f"the function name {name!r} is not a plain name")
    if isinstance(node, DENIED_FUNCTION_CLASSES) or is_denied_function(name, dialect):
        raise reject(f"the function {name} has side effects or reaches outside the database")
    if dialect == "postgres":
        _check_pg_call(node, text, policy.functions)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _check_pg_call(node: exp.Func, text: str, functions: FunctionPolicy | None) -> None:
    written = _written_name(node, text)
    if written is None:
        return  # an operator or special syntax; a named one is netted by check_tokens
    name, quoted = written
    schema = _qualifier(node)
    if schema is None and not quoted and name in PG_SYNTAX_NAMES:
        return
    if name in PG_SETTING_READERS:
        _check_setting_argument(node, name)
    refusal = pg_call_refusal(schema, name, functions)
    if refusal is not None:
        raise reject(refusal)


def _written_name(node: exp.Func, text: str) -> tuple[str, bool] | None:
    """The function name as the statement spells it (folded unless quoted), or None when sqlglot
    built the call from syntax that names no function."""
    start, end = node.meta.get("start"), node.meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    raw = text[start : end + 1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('""', '"'), True
    if _WORD.fullmatch(raw):
        return raw.lower(), False
    raise reject(f"the guard cannot tell which function {raw[:40]!r} calls")


def _qualifier(node: exp.Func) -> str | None:
    """The schema a call names (``pg_catalog.lower(x)``, ``FROM s.f()``), folded unless quoted."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return _schema_name(parent.this)
    if isinstance(parent, exp.Table) and parent.this is node:
        if parent.args.get("catalog") is not None:
            raise reject("call a function as name(...) or schema.name(...), without a database name")
        database = parent.args.get("db")
        return None if database is None else _schema_name(database)
    return None


def _schema_name(qualifier: exp.Expr) -> str:
    if isinstance(qualifier, exp.Column) and not qualifier.table:
        qualifier = qualifier.this
    if isinstance(qualifier, exp.Identifier):
        return str(qualifier.this) if qualifier.quoted else str(qualifier.this).lower()
    if isinstance(qualifier, exp.Var):
        return str(qualifier.this).lower()
    raise reject("call a function as name(...) or schema.name(...), without a database name")


def _check_setting_argument(node: exp.Func, name: str) -> None:
    first = node.expressions[0] if isinstance(node, exp.Anonymous) and node.expressions else None
    if not (isinstance(first, exp.Literal) and first.is_string):
        raise reject(f"{name} must name its setting with a string literal here")
    setting = str(first.this).lower()
    if setting in PG_SECRET_SETTINGS or "." in setting:
        raise reject(f"the setting {setting} names server files or can hold commands or credentials")


def pg_call_refusal(schema: str | None, name: str, functions: FunctionPolicy | None) -> str | None:
    """Why PostgreSQL's catalog does not vouch for calling ``[schema.]name``; None when it does."""
    label = f"{schema}.{name}" if schema else name
    if functions is None or not functions.available:
        why = functions.source if functions is not None else "the datasource gave no function catalog"
        return f"the function {label} cannot be vouched for ({why}); named function calls are refused until it can be read"
    volatility = functions.volatility(name, schema)
    if volatility is None:
        return (
            f"no function named {label} is visible in the datasource's catalog (pg_proc); "
            "a function created since it was read is known after a catalog refresh"
        )
    if volatility.reads_only or _reviewed(schema, name, functions):
        return None
    return _volatile(label)


def _volatile(label: str) -> str:
    return (
        f"the function {label} is volatile (pg_proc.provolatile = 'v'): it may write, lock or read "
        "outside the database; only immutable and stable functions run here"
    )


def _reviewed(schema: str | None, name: str, functions: FunctionPolicy) -> bool:
    """A reviewed harmless volatile built-in, not shadowed by a volatile namesake elsewhere."""
    if name not in PG_REVIEWED_VOLATILE or schema not in (None, "pg_catalog"):
        return False
    schemas = functions.schemas(name)
    if "pg_catalog" not in schemas:
        return False
    others = (functions.volatility(name, other) for other in schemas - {"pg_catalog"})
    return all(v is not None and v.reads_only for v in others)


def check_mysql_object(schema: str | None, name: str) -> None:
    """Refuse the ``mysql``/``performance_schema``/``sys`` databases and information_schema's
    privilege and process tables (any case)."""
    database = (schema or "").lower()
    if database in MYSQL_DENIED_SCHEMAS:
        raise reject(
            f"the {database} database holds accounts, password hashes, grants or other sessions' "
            "statements; it cannot be read here"
        )
    if database == "information_schema" and name.lower() in MYSQL_DENIED_INFORMATION_SCHEMA:
        raise reject(
            f"information_schema.{name.upper()} shows privileges or other sessions' statements; "
            "it cannot be read here"
        )


def check_named_object(tokens: Sequence[TokenLike], dialect: str | None, policy: ReadPolicy) -> None:
    """``[schema.]name [column]`` of a DESCRIBE: MySQL's refused databases and tables."""
    if dialect not in ("mysql", None) or not tokens:
        return
    if len(tokens) >= 3 and tokens[1].token_type == TokenType.DOT:
        check_mysql_object(tokens[0].text, tokens[2].text)
    else:
        check_mysql_object(policy.default_schema, tokens[0].text)


# --- the token net -----------------------------------------------------------------------------
def check_tokens(tokens: Sequence[TokenLike], dialect: str | None, policy: ReadPolicy) -> None:
    """Refuse denied or volatile calls and denied relations wherever their names appear."""
    functions = policy.functions
    postgres_names = dialect in ("postgres", None)
    mysql_names = dialect in ("mysql", None)
    for index, token in enumerate(tokens):
        word = name_of(token)
        if word is None:
            continue
        name = word[0]
        before = tokens[index - 1] if index else None
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        follows_dot = before is not None and before.token_type == TokenType.DOT
        if postgres_names and name.lower() in PG_DENIED_RELATIONS:
            raise reject(
                f"{name} exposes server files, settings, credentials or other sessions' SQL; "
                "it cannot be read here"
            )
        if mysql_names and after is not None and after.token_type == TokenType.DOT and not follows_dot:
            following = name_of(tokens[index + 2]) if index + 2 < len(tokens) else None
            check_mysql_object(name, following[0] if following else "")
        if after is not None and after.token_type == TokenType.L_PAREN:
            if before is not None and before.text.upper() == "TABLESAMPLE":
                continue
            if is_denied_function(name, dialect):
                raise reject(f"the function {name.lower()} has side effects or reaches outside the database")
            if dialect == "postgres":
                refusal = _pg_net_refusal(_token_schema(tokens, index), name, functions)
                if refusal is not None:
                    raise reject(refusal)
        elif dialect == "postgres" and follows_dot and (after is None or after.token_type != TokenType.DOT):
            if functions is not None and functions.volatility(name) is Volatility.VOLATILE:
                if not _reviewed(None, name, functions):
                    raise reject(
                        f"'.{name}' would call the volatile function {name} on a row (attribute notation); "
                        "only immutable and stable functions run here"
                    )


def name_of(token: TokenLike) -> tuple[str, bool] | None:
    """``(name, quoted)`` for a name-like token: quoted identifiers keep their case, the rest fold
    to lower case (PostgreSQL's rule); None for anything else."""
    if token.token_type == TokenType.IDENTIFIER:
        return token.text, True
    if token.token_type not in _LITERALS and _WORD.fullmatch(token.text):
        return token.text.lower(), False
    return None


def _token_schema(tokens: Sequence[TokenLike], index: int) -> str | None:
    """The schema of ``schema.name(`` at ``index``; None when unqualified or longer than two parts
    (then every schema counts)."""
    if index < 2 or tokens[index - 1].token_type != TokenType.DOT:
        return None
    if index >= 3 and tokens[index - 3].token_type == TokenType.DOT:
        return None
    word = name_of(tokens[index - 2])
    return None if word is None else word[0]


def _pg_net_refusal(schema: str | None, name: str, functions: FunctionPolicy | None) -> str | None:
    if functions is None or not functions.available:
        if name.lower() in _PG_PARSED_BY_NAME and name.lower() not in PG_SYNTAX_NAMES:
            return pg_call_refusal(schema, name, functions)
        return None
    if functions.volatility(name, schema) is Volatility.VOLATILE and not _reviewed(schema, name, functions):
        return _volatile(f"{schema}.{name}" if schema else name)
    return None

"""Read policies built in tests, without a database: what a PostgreSQL catalog would declare."""

from __future__ import annotations

from engine.common.read_policy import FunctionPolicy, ReadPolicy

# pg_catalog functions and their provolatile, as PostgreSQL 15 declares them
BUILTINS = {
    "i": (
        "abs array_agg avg btrim ceil count date_part date_trunc dense_rank extract first_value floor "
        "generate_series jsonb_agg jsonb_build_object jsonb_each lag lead length lower max md5 min "
        "percentile_cont position rank round row_number string_agg substr substring sum upper varchar"
    ),
    "s": "age current_setting json_agg now to_char",
    "v": "clock_timestamp gen_random_uuid nextval pg_sleep random setseed setval system timeofday",
}


def catalog_rows(*extra: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    rows = [("pg_catalog", name, code) for code, names in BUILTINS.items() for name in names.split()]
    return [*rows, *extra]


def pg_policy(*extra: tuple[str, str, str]) -> ReadPolicy:
    """A policy of the built-ins above plus ``extra`` ``(schema, name, codes)`` rows."""
    return ReadPolicy(FunctionPolicy.from_catalog(catalog_rows(*extra), "a catalog built in the test"))


UNAVAILABLE = ReadPolicy(FunctionPolicy.unavailable("the catalog could not be read (test)"))

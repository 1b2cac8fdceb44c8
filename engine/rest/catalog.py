"""The schema browser's catalog: the datasource's tables and one table's columns (cached by the
engine's one catalog, shared with the metadata RPCs and the schema tools)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.common.errors import InvalidStatementError, UnsupportedError
from engine.rest.context import caller
from engine.rest.errors import ApiError
from engine.tools.port import CatalogView

MAX_NAME = 512


def _catalog(view: CatalogView | None) -> CatalogView:
    if view is None:
        raise UnsupportedError("this engine has no datasource catalog")
    return view


async def list_tables(request: Request) -> Response:
    ctx, _ = await caller(request)
    catalog = _catalog(ctx.backend.catalog)
    tables = await ctx.workers.run(catalog.search_tables, None, None)
    return JSONResponse(
        [{"schema": table.schema, "table": table.name, "type": table.kind} for table in tables]
    )


async def describe_table(request: Request) -> Response:
    ctx, _ = await caller(request)
    catalog = _catalog(ctx.backend.catalog)
    schema, name = request.path_params["schema"], request.path_params["table"]
    if len(schema) > MAX_NAME or len(name) > MAX_NAME:
        raise ApiError(404, "there is no such table")

    def read() -> dict[str, object]:
        try:
            table = catalog.find_table(schema, name)
        except InvalidStatementError:
            raise ApiError(404, f"there is no table {schema}.{name}") from None
        columns = catalog.columns(table.schema, [table.name])[table.name]
        return {
            "schema": table.schema,
            "table": table.name,
            "type": table.kind,
            "columns": [
                {
                    "name": column.spec.name,
                    "type": column.source_type or column.spec.type.name,
                    "hiveType": column.spec.type.name,
                    "nullable": column.nullable,
                    "comment": column.spec.comment,
                }
                for column in sorted(columns, key=lambda column: column.ordinal)
            ],
        }

    return JSONResponse(await ctx.workers.run(read))


ROUTES = [
    Route("/api/v1/catalog/tables", list_tables, methods=["GET"]),
    Route("/api/v1/catalog/tables/{schema}/{table}", describe_table, methods=["GET"]),
]

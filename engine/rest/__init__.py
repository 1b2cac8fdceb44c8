"""The HTTP side of the engine (Starlette and uvicorn are imported only under this package)."""

"""Async SQLAlchemy engines bound to one service's schema."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_dsn(dsn: str) -> str:
    """`postgresql://...` -> `postgresql+asyncpg://...` (SQLAlchemy's asyncpg dialect)."""
    url = make_url(dsn)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def make_engine(dsn: str, *, schema: str, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An engine whose every connection has `search_path` set to `schema` only, so a
    service's unqualified table names can only ever resolve inside its own schema."""
    return create_async_engine(
        async_dsn(dsn),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        echo=echo,
        connect_args={"server_settings": {"search_path": schema, "timezone": "UTC"}},
    )

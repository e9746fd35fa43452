"""The ingestion service process: HTTP upload (`POST /files`), drop-folder watcher, consumer
of `instruments.submitted.v1`, outbox relay, health endpoints. Run it with
`python -m ingestion.app`."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, HTTPException, UploadFile
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.parsers.errors import InputFileError
from ingestion.service import ingest_file, record_submitted
from ingestion.settings import IngestionSettings
from secmaster_common.events import Envelope, InstrumentSubmitted, topics
from secmaster_common.kafka import subscription
from secmaster_common.logging import get_logger
from secmaster_common.runtime import ServiceRuntime, serve

SERVICE = "ingestion"
log = get_logger(__name__)


async def ingest_path(
    runtime: ServiceRuntime,
    settings: IngestionSettings,
    path: Path,
    *,
    fmt: str | None,
    portfolio_id: str | None,
    as_of: dt.date | None,
    source: str | None = None,
) -> dict[str, Any]:
    """Ingest one file; a holdings file naming no portfolio or date falls back to the file
    name and today, as a drop folder has no one to ask."""
    summary = await ingest_file(
        engine=runtime.engine,
        path=path,
        fmt=fmt,
        portfolio_id=portfolio_id,
        as_of=as_of,
        default_portfolio_id=path.stem,
        default_as_of=dt.date.today(),
        chunk_size=settings.ingestion_chunk_size,
        parse_workers=settings.ingestion_parse_workers,
        topic_partitions=settings.kafka_topic_partitions,
        source=source,
    )
    runtime.wake_relay()
    return summary.as_dict()


def register_handlers(
    broker: KafkaBroker,
    *,
    engine: AsyncEngine,
    settings: IngestionSettings,
    on_published: Callable[[], None] = lambda: None,
) -> None:
    """Subscribe to `instruments.submitted.v1`. A message that is no valid envelope goes to
    the DLQ (the broker's middleware); a record that fails validation is quarantined."""
    name, options = subscription(settings, service=SERVICE, topic=topics.INSTRUMENTS_SUBMITTED)

    @broker.subscriber(name, **options)  # type: ignore[untyped-decorator]
    async def on_submitted(envelope: Envelope[InstrumentSubmitted]) -> None:
        summary = await record_submitted(engine=engine, envelope=envelope, consumer=SERVICE)
        if summary is None:
            log.info("submitted instrument already handled", event_id=str(envelope.event_id))
            return
        log.info(
            "submitted instrument handled",
            source=envelope.payload.source,
            published=summary.published,
            quarantined=dict(summary.quarantined),
        )
        if summary.published:
            on_published()


def build_router(runtime: ServiceRuntime, settings: IngestionSettings) -> APIRouter:
    router = APIRouter()

    @router.post("/files")
    async def upload(
        file: UploadFile,
        format: Annotated[str | None, Form()] = None,
        portfolio_id: Annotated[str | None, Form()] = None,
        as_of: Annotated[dt.date | None, Form()] = None,
    ) -> dict[str, Any]:
        suffix = Path(file.filename or "upload").suffix
        with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp:
            shutil.copyfileobj(file.file, tmp)
            path = Path(tmp.name)
        try:
            return await ingest_path(
                runtime,
                settings,
                path,
                fmt=format,
                portfolio_id=portfolio_id,
                as_of=as_of,
                source=file.filename,
            )
        except InputFileError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    return router


async def watch_drop_folder(runtime: ServiceRuntime, settings: IngestionSettings) -> None:
    """Ingest every file that appears in the drop folder; move it to `done/` or `failed/`."""
    folder = settings.ingestion_drop_dir
    if folder is None:
        return
    for sub in ("done", "failed"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    while True:
        for path in sorted(
            p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
        ):
            try:
                summary = await ingest_path(
                    runtime, settings, path, fmt=None, portfolio_id=None, as_of=None
                )
                log.info("drop folder file ingested", file=path.name, summary=summary)
                path.rename(folder / "done" / path.name)
            except Exception as exc:
                log.error("drop folder file failed", file=path.name, error=str(exc))
                path.rename(folder / "failed" / path.name)
        await asyncio.sleep(settings.ingestion_drop_poll_s)


def bootstrap(settings: IngestionSettings | None = None) -> FastAPI:
    settings = settings or IngestionSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    register_handlers(
        runtime.broker, engine=runtime.engine, settings=settings, on_published=runtime.wake_relay
    )
    runtime.background.append(lambda: watch_drop_folder(runtime, settings))
    app: FastAPI = runtime.build_http(build_router(runtime, settings))
    return app


def main() -> None:
    settings = IngestionSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.ingestion_http_port)


if __name__ == "__main__":
    main()

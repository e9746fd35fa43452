"""The OpenFIGI v3 emulator as a FastAPI app: the real routes, bodies, status codes and
`ratelimit-*` headers (specs/openfigi.md), plus `/_emulator/*` admin routes to inject
faults and read back every request's arrival time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from secmaster_emulators.openfigi.catalog import Catalog
from secmaster_emulators.openfigi.limits import (
    Bucket,
    FixedWindows,
    OpenFigiLimits,
    RequestLog,
    RequestRecord,
    WindowVerdict,
)
from secmaster_emulators.openfigi.seed import OpenFigiSeed

API_KEY_HEADER = "x-openfigi-apikey"
PAGE_SIZE = 100  # search/filter pages hold 100 rows ([PYOF23]: 21 full pages plus 4 rows)

# Exact bodies of the real service (text/html): 429 as recorded in 2026, 401/404 in 2025,
# the rest from the v3 schema.
TOO_MANY = "Too many requests, please try again later."
STATUS_TEXT = {
    400: "Bad request.",
    401: "Invalid API key.",
    404: "Invalid url.",
    405: "Invalid HTTP method.",
    413: "Payload too large.",
    415: "Invalid Content-Type. Should be text/json or application/json with valid charset.",
    429: TOO_MANY,
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service Unavailable.",
    504: "Gateway timeout.",
}


class FaultSpec(BaseModel):
    """Body of `POST /_emulator/faults`: the next `count` requests to `bucket` (or every
    one until cleared when count is null) wait `latency_s`, then answer `status` if set."""

    status: int | None = None
    latency_s: float = 0.0
    count: int | None = 1
    bucket: str = "any"
    retry_after_s: int = 1


@dataclass(slots=True)
class EmulatorState:
    catalog: Catalog
    limits: OpenFigiLimits
    require_key: bool
    api_keys: frozenset[str] | None
    latency_s: float
    windows: FixedWindows = field(default_factory=FixedWindows)
    log: RequestLog = field(default_factory=RequestLog)
    faults: list[FaultSpec] = field(default_factory=list)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    t0: float = field(default_factory=time.monotonic)

    def take_fault(self, bucket: Bucket) -> FaultSpec | None:
        for fault in self.faults:
            if fault.bucket in ("any", bucket):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return fault
        return None


def _text(status: int, body: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return HTMLResponse(body or STATUS_TEXT.get(status, "Error."), status, headers=headers)


def _json(payload: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, 200, media_type="application/json; charset=utf-8")


def _ratelimit_headers(verdict: WindowVerdict) -> dict[str, str]:
    window = verdict.limit.window_s
    policy_w = int(window) if float(window).is_integer() else window
    return {
        "ratelimit-limit": str(verdict.limit.max_requests),
        "ratelimit-remaining": str(verdict.remaining),
        "ratelimit-reset": str(verdict.reset_s),
        "ratelimit-policy": f"{verdict.limit.max_requests};w={policy_w}",
    }


def create_app(
    seed: OpenFigiSeed | Path,
    *,
    require_key: bool = False,
    api_keys: frozenset[str] | set[str] | None = None,
    limits: OpenFigiLimits | None = None,
    synthesize: bool = False,
    latency_s: float = 0.0,
) -> FastAPI:
    """Build the emulator.

    `api_keys`: the keys that exist (None accepts any key); a request with another key gets
    401. `require_key`: a request without a key gets 401 too (the real API would serve it at
    the anonymous limits). `synthesize`: well-formed identifiers the seed does not know map
    to a made-up listing instead of a warning (benchmarks). `latency_s`: added to every answer.
    """
    loaded = OpenFigiSeed.load(seed) if isinstance(seed, Path) else seed
    state = EmulatorState(
        catalog=Catalog(loaded, synthesize=synthesize),
        limits=limits or OpenFigiLimits(),
        require_key=require_key,
        api_keys=frozenset(api_keys) if api_keys is not None else None,
        latency_s=latency_s,
    )
    app = FastAPI(title="OpenFIGI v3 emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _text(exc.status_code)

    Produce = Callable[[bool], Awaitable[tuple[Response, int]]]

    async def serve(request: Request, bucket: Bucket, produce: Produce) -> Response:
        arrived = time.monotonic()
        key = request.headers.get(API_KEY_HEADER)
        status, jobs = 500, 0
        client = "ip:" + (request.client.host if request.client else "unknown")
        try:
            if key is not None:
                client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:10]
                if state.api_keys is not None and key not in state.api_keys:
                    status = 401
                    # The real 401 carries no ratelimit headers ([GAD25]).
                    return _text(401)
            elif state.require_key:
                status = 401
                return _text(401)
            fault = state.take_fault(bucket)
            if fault is not None:
                if fault.latency_s > 0:
                    await asyncio.sleep(fault.latency_s)
                if fault.status is not None:
                    status = fault.status
                    headers = (
                        {"ratelimit-remaining": "0", "retry-after": str(fault.retry_after_s)}
                        if fault.status == 429
                        else None
                    )
                    return _text(fault.status, headers=headers)
            verdict = state.windows.hit(
                bucket, client, state.limits.window(bucket, key is not None), arrived
            )
            headers = _ratelimit_headers(verdict)
            if not verdict.allowed:
                status = 429
                # 2026 behaviour: retry-after equals ratelimit-reset ([EBULL26]).
                return _text(429, headers={**headers, "retry-after": str(verdict.reset_s)})
            response, jobs = await produce(key is not None)
            response.headers.update(headers)
            if state.latency_s > 0:
                await asyncio.sleep(state.latency_s)
            status = response.status_code
            return response
        finally:
            state.log.add(
                RequestRecord(
                    t=arrived - state.t0,
                    bucket=bucket,
                    client=client,
                    method=request.method,
                    path=request.url.path,
                    status=status,
                    jobs=jobs,
                )
            )

    async def read_json(request: Request) -> tuple[Any, Response | None]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "text/json"):
            return None, _text(415)
        try:
            return json.loads(await request.body()), None
        except (ValueError, UnicodeDecodeError):
            return None, _text(400)

    @app.post("/v3/mapping")
    async def mapping(request: Request) -> Response:
        async def produce(keyed: bool) -> tuple[Response, int]:
            body, problem = await read_json(request)
            if problem is not None:
                return problem, 0
            if not isinstance(body, list) or not all(isinstance(j, dict) for j in body):
                return _text(400), 0
            if len(body) > state.limits.max_jobs(keyed):
                return _text(413), len(body)
            return _json([state.catalog.answer(job) for job in body]), len(body)

        return await serve(request, "mapping", produce)

    @app.get("/v3/mapping/values/{key}")
    async def values(request: Request, key: str) -> Response:
        async def produce(keyed: bool) -> tuple[Response, int]:
            known = state.catalog.seed.values.get(key)
            if known is None:
                return _text(400), 0
            return _json({"values": known}), 0

        return await serve(request, "mapping", produce)

    def _token(offset: int, page: int, fingerprint: str) -> str:
        payload = base64.b64encode(f"{offset} {page}".encode()).decode()
        mac = hmac.new(state.secret, f"{payload}|{fingerprint}".encode(), "sha256").digest()
        return payload + "." + base64.b64encode(mac).decode()

    def _offset(token: str, fingerprint: str) -> int | None:
        payload, _, _ = token.partition(".")
        try:
            offset_text, page_text = base64.b64decode(payload, validate=True).decode().split()
            offset, page = int(offset_text), int(page_text)
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None
        if not hmac.compare_digest(token, _token(offset, page, fingerprint)):
            return None
        return offset

    def search_route(endpoint: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            async def produce(keyed: bool) -> tuple[Response, int]:
                body, problem = await read_json(request)
                if problem is not None:
                    return problem, 0
                if not isinstance(body, dict):
                    return _text(400), 0
                query = body.get("query")
                if endpoint == "search" and (not isinstance(query, str) or not query.strip()):
                    return _json({"error": "query must be a non-empty string."}), 0
                fingerprint = json.dumps(
                    {k: v for k, v in body.items() if k != "start"}, sort_keys=True
                )
                offset = 0
                if body.get("start") is not None:
                    found = _offset(str(body["start"]), fingerprint)
                    if found is None:
                        return _json({"error": "Invalid start value."}), 0
                    offset = found
                rows, total = state.catalog.query(endpoint, body)
                page_rows = rows[offset : offset + PAGE_SIZE]
                out: dict[str, Any] = {"data": page_rows}
                if offset + PAGE_SIZE < len(rows):
                    out["next"] = _token(offset + PAGE_SIZE, offset // PAGE_SIZE + 1, fingerprint)
                if endpoint == "filter":
                    out["total"] = total if total is not None else len(rows)
                return _json(out), 0

            return await serve(request, "search", produce)

        return handler

    app.add_api_route("/v3/search", search_route("search"), methods=["POST"])
    app.add_api_route("/v3/filter", search_route("filter"), methods=["POST"])

    @app.get("/_emulator/stats")
    async def stats(window_s: float | None = None) -> dict[str, Any]:
        records = state.log.records
        out: dict[str, Any] = {
            "total": len(records),
            "by_status": dict(Counter(str(r.status) for r in records)),
            "requests": [
                {
                    "t": round(r.t, 6),
                    "bucket": r.bucket,
                    "client": r.client,
                    "method": r.method,
                    "path": r.path,
                    "status": r.status,
                    "jobs": r.jobs,
                }
                for r in records
            ],
        }
        if window_s is not None:
            out["max_in_window"] = {
                "window_s": window_s,
                "mapping": state.log.max_in_window(window_s, bucket="mapping"),
                "search": state.log.max_in_window(window_s, bucket="search"),
            }
        return out

    @app.post("/_emulator/faults")
    async def add_fault(spec: FaultSpec) -> dict[str, int]:
        state.faults.append(spec)
        return {"queued": len(state.faults)}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict[str, int]:
        state.faults.clear()
        return {"queued": 0}

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, bool]:
        """Forget windows, the request log and queued faults (between tests)."""
        state.windows.clear()
        state.log.clear()
        state.faults.clear()
        return {"reset": True}

    return app

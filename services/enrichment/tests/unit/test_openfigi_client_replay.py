"""The OpenFIGI client replays real recorded exchanges (httpx.MockTransport): the 25-then-429
sequence, 401, 404, an invalid idType, 22 filter pages, and decodes known_mappings.json;
plus 413 splitting, 5xx/timeout retries and the breaker."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from enrichment.adapters.openfigi import (
    OpenFigiClient,
    OpenFigiConfigurationError,
    OpenFigiRequestError,
    OpenFigiUnavailable,
    RetryPolicy,
)
from enrichment.domain import MappingJob, MappingStatus
from secmaster_common.breaker import CircuitBreaker, CircuitOpenError

FAST_RETRY = RetryPolicy(attempts=3, wait_initial_s=0.001, wait_max_s=0.005, jitter_s=0.0)
Handler = Callable[[httpx.Request], httpx.Response]


class OpenLimiter:
    """Admits every call at once and records what the client told it."""

    def __init__(self) -> None:
        self.acquired = 0
        self.penalties: list[float] = []

    async def acquire(self) -> None:
        self.acquired += 1

    def penalize(self, wait_s: float) -> None:
        self.penalties.append(wait_s)


class SleepLog:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(handler: Handler, **kwargs: Any) -> OpenFigiClient:
    kwargs.setdefault("limiter", OpenLimiter())
    kwargs.setdefault("search_limiter", OpenLimiter())
    kwargs.setdefault("retry", FAST_RETRY)
    return OpenFigiClient(http=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **kwargs)


def replay_vcr(interaction: dict[str, Any]) -> httpx.Response:
    """A pyopenfigi (VCR) interaction back into an httpx response, headers included."""
    response = interaction["response"]
    headers = {k: v[0] for k, v in response["headers"].items()}
    body = response["body"]
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.Response(response["status"]["code"], headers=headers, content=content)


def replay_gadicc(record: dict[str, Any]) -> httpx.Response:
    response = record["response"]
    if "bodyText" in response:
        content = response["bodyText"].encode()
    else:
        content = json.dumps(response["bodyJson"]).encode()
    headers = {k: v for k, v in response["headers"].items() if k != "transfer-encoding"}
    headers.pop("content-length", None)
    return httpx.Response(response["status"], headers=headers, content=content)


async def test_25_answers_then_429_waits_retry_after_and_completes(
    load_recording: Callable[[str], Any],
) -> None:
    recorded = load_recording("pyopenfigi_vcr_2023/test_too_many_mapping_requests.json")
    assert [i["response"]["status"]["code"] for i in recorded][-1] == 429
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        # After the recorded 429 the window has passed: the server answers again.
        return replay_vcr(recorded[len(sent) - 1] if len(sent) <= len(recorded) else recorded[0])

    limiter, sleep = OpenLimiter(), SleepLog()
    async with client_for(handler, limiter=limiter, sleep=sleep) as client:
        results = [(await client.map([MappingJob("TICKER", "IBM")]))[0] for _ in range(25)]
    assert len(sent) == 26  # 24 answers, the 429, then the retried 25th request
    assert all(body == [{"idType": "TICKER", "idValue": "IBM"}] for body in sent)
    assert [r.status for r in results] == [MappingStatus.MAPPED] * 25
    assert {len(r.listings) for r in results} == {73}
    assert sleep.waits == [60.0]  # retry-after: 60 (ratelimit-reset said 42)
    assert limiter.penalties == [60.0]


async def test_invalid_key_is_a_configuration_error(load_recording: Callable[[str], Any]) -> None:
    record = load_recording(
        "gadicc_openfigi_2025/api.openfigi.com_v3_mapping__method-POST-headers-6e11d78-body-d5cd759.json"
    )
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return replay_gadicc(record)

    breaker = CircuitBreaker("openfigi-test-401", failure_threshold=1)
    async with client_for(handler, api_key="INVALID", breaker=breaker) as client:
        with pytest.raises(OpenFigiConfigurationError) as caught:
            await client.map([MappingJob("TICKER", "AAPL", exch_code="US")])
        assert "INVALID" not in repr(client)
    assert "INVALID" not in str(caught.value)  # the key is never echoed
    assert len(sent) == 1  # not retried
    assert sent[0].headers["X-OPENFIGI-APIKEY"] == "INVALID"
    assert breaker.state.name == "CLOSED"  # the service answered; the config is wrong


async def test_unknown_url_is_not_retried(load_recording: Callable[[str], Any]) -> None:
    record = load_recording(
        "gadicc_openfigi_2025/api.openfigi.com_v3_invalid-endpoint__headers-e9ee9fe.json"
    )
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return replay_gadicc(record)

    async with client_for(handler) as client:
        with pytest.raises(OpenFigiRequestError) as caught:
            await client.mapping_values("invalid-endpoint")
    assert (caught.value.status, caught.value.body) == (404, "Invalid url.")
    assert len(sent) == 1


async def test_invalid_id_type_is_invalid_not_negative(
    load_recording: Callable[[str], Any],
) -> None:
    record = load_recording(
        "gadicc_openfigi_2025/api.openfigi.com_v3_mapping__method-POST-headers-e9ee9fe-body-5faeea8.json"
    )
    async with client_for(lambda request: replay_gadicc(record)) as client:
        [result] = await client.map([MappingJob("INVALID", "AAPL", exch_code="US")])
    assert result.status is MappingStatus.INVALID
    assert result.message == "Invalid value for idType."
    assert not result.is_negative


async def test_mixed_answer_keeps_alignment(load_recording: Callable[[str], Any]) -> None:
    [interaction] = load_recording(
        "pyopenfigi_vcr_2023/test_map_two_jobs_one_of_which_is_in_error.json"
    )
    async with client_for(lambda request: replay_vcr(interaction)) as client:
        ibm, unknown = await client.map(
            [MappingJob("TICKER", "IBM"), MappingJob("TICKER", "UNKNOWN_TICKER")]
        )
    assert ibm.status is MappingStatus.MAPPED and ibm.job.id_value == "IBM"
    primary = ibm.primary_listing()
    assert primary is not None and (primary.figi, primary.exch_code) == ("BBG000BLNNH6", "US")
    assert unknown.status is MappingStatus.NOT_FOUND and unknown.is_negative
    assert unknown.message == "No identifier found."


async def test_filter_follows_next_over_22_recorded_pages(
    load_recording: Callable[[str], Any],
) -> None:
    recorded = load_recording("pyopenfigi_vcr_2023/test_filter_multi_api_call.json")
    by_start = {i["request"]["body"].get("start"): i for i in recorded}
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        return replay_vcr(by_start[body.get("start")])

    async with client_for(handler) as client:
        result = await client.filter("CTA")
    assert sent == [i["request"]["body"] for i in recorded]  # the exact recorded requests
    assert len(result.listings) == 2104 and result.total == 2104
    assert result.listings[0].figi == "BBG000001B66"
    assert result.listings[-1].figi == recorded[-1]["response"]["body"]["data"][-1]["figi"]


async def test_decodes_every_known_mapping_aligned_with_its_job(
    known_mappings: list[dict[str, Any]],
) -> None:
    answers: dict[str, Any] = {}
    jobs = []
    for entry in known_mappings:
        job = MappingJob.from_filters(entry["idType"], entry["idValue"], entry.get("filters", {}))
        jobs.append(job)
        if "primary" in entry:
            row = {"figi": entry["idValue"], **entry["primary"]}
            answers[
                json.dumps(
                    {"idType": job.id_type, "idValue": job.id_value, **job.filters()},
                    sort_keys=True,
                )
            ] = {"data": [row]}
        elif "result" in entry:
            answers[
                json.dumps(
                    {"idType": job.id_type, "idValue": job.id_value, **job.filters()},
                    sort_keys=True,
                )
            ] = entry["result"]
    random.Random(4).shuffle(jobs)

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json=[
                answers.get(json.dumps(j, sort_keys=True), {"warning": "No identifier found."})
                for j in body
            ],
        )

    async with client_for(handler, api_key="k", batch_size=7) as client:
        results = await client.map(jobs)
    assert [r.job for r in results] == jobs
    by_job = {r.job: r for r in results}
    checked = 0
    for entry in known_mappings:
        job = MappingJob.from_filters(entry["idType"], entry["idValue"], entry.get("filters", {}))
        result = by_job[job]
        if "primary" in entry:
            listing = result.primary_listing()
            assert result.status is MappingStatus.MAPPED and listing is not None
            primary = entry["primary"]
            assert listing.figi == primary.get("figi", entry["idValue"])
            for api_name, attr in (
                ("ticker", "ticker"),
                ("exchCode", "exch_code"),
                ("compositeFIGI", "composite_figi"),
                ("shareClassFIGI", "share_class_figi"),
                ("securityType", "security_type"),
                ("name", "name"),
            ):
                if api_name in primary:
                    assert getattr(listing, attr) == primary[api_name], (entry["idValue"], api_name)
            checked += 1
        elif "warning" in entry.get("result", {}):
            assert result.status is MappingStatus.NOT_FOUND
            checked += 1
        elif "error" in entry.get("result", {}):
            assert (result.status, result.message) == (
                MappingStatus.INVALID,
                entry["result"]["error"],
            )
            checked += 1
    assert checked == len(known_mappings) - 1  # AMZN lists a first row only, no primary


async def test_413_splits_the_batch_and_remembers_the_smaller_size() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sizes.append(len(body))
        if len(body) > 3:
            return httpx.Response(
                413, text="Payload too large.", headers={"content-type": "text/html"}
            )
        return httpx.Response(
            200, json=[{"data": [{"figi": f"BBG00000000{j['idValue']}"}]} for j in body]
        )

    jobs = [MappingJob("TICKER", str(i)) for i in range(10)]
    async with client_for(handler, batch_size=10, concurrency=1) as client:
        results = await client.map(jobs)
        assert [r.listings[0].figi for r in results] == [f"BBG00000000{i}" for i in range(10)]
        assert client.batch_size == 3
        sizes.clear()
        await client.map(jobs)
    assert sizes == [3, 3, 3, 1]  # later calls start at the learned size


async def test_5xx_and_timeouts_are_retried_then_give_up() -> None:
    script: list[Any] = [
        httpx.Response(503, text="Service Unavailable."),
        httpx.ReadTimeout("slow"),
    ]
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        step = (
            script.pop(0)
            if script
            else httpx.Response(200, json=[{"data": [{"figi": "BBG000BLNNH6"}]}])
        )
        if isinstance(step, Exception):
            raise step
        return step

    async with client_for(handler) as client:
        [result] = await client.map([MappingJob("TICKER", "IBM")])
    assert result.status is MappingStatus.MAPPED and calls == 3

    async with client_for(
        lambda request: httpx.Response(500, text="Internal server error.")
    ) as client:
        with pytest.raises(OpenFigiUnavailable):
            await client.map([MappingJob("TICKER", "IBM")])


async def test_breaker_opens_on_a_burst_of_failures() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, text="Service Unavailable.")

    breaker = CircuitBreaker("openfigi-test-burst", failure_threshold=2, reset_timeout_s=60)
    async with client_for(
        handler,
        breaker=breaker,
        retry=RetryPolicy(attempts=5, wait_initial_s=0.001, wait_max_s=0.001, jitter_s=0),
    ) as client:
        with pytest.raises(CircuitOpenError):
            await client.map([MappingJob("TICKER", "IBM")])
    assert calls == 2  # the third attempt met the open breaker, not the server


async def test_429_without_retry_after_waits_ratelimit_reset() -> None:
    script = [
        httpx.Response(
            429,
            text="Too many requests, please try again later.",
            headers={"content-type": "text/html; charset=utf-8", "ratelimit-reset": "7"},
        ),
        httpx.Response(200, json=[{"warning": "No identifier found."}]),
    ]
    sleep = SleepLog()
    async with client_for(lambda request: script.pop(0), sleep=sleep) as client:
        [result] = await client.map([MappingJob("ID_CUSIP", "000000000")])
    assert result.status is MappingStatus.NOT_FOUND
    assert sleep.waits == [7.0]

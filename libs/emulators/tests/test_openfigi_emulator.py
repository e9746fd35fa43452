"""The OpenFIGI emulator over a real socket: bodies, status codes, headers, fixed windows,
job ceilings, pagination, fault injection and the request log match the real service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from secmaster_emulators.openfigi import OpenFigiLimits, WindowLimit

from .conftest import StartEmulator

KEY = "test-key"
TOO_MANY = "Too many requests, please try again later."


def _post(url: str, path: str, body: object, key: str | None = None) -> httpx.Response:
    headers = {"X-OPENFIGI-APIKEY": key} if key else {}
    return httpx.post(url + path, json=body, headers=headers, timeout=10)


def test_mapping_answers_data_warning_and_error_per_job(start_emulator: StartEmulator) -> None:
    url = start_emulator()
    jobs = [
        {"idType": "TICKER", "idValue": "IBM"},
        {"idType": "ID_CUSIP", "idValue": "000000000"},
        {"idType": "ID_CUSIP", "idValue": "ZZZZZZZZZ"},
        {"idType": "INVALID", "idValue": "AAPL", "exchCode": "US"},
        {"idType": "ID_ISIN", "idValue": "US4592001014", "exchCode": "US"},
    ]
    response = _post(url, "/v3/mapping", jobs)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    answers = response.json()
    assert len(answers) == 5
    assert len(answers[0]["data"]) == 73  # as recorded in 2023, M-Mkt rows included
    assert answers[0]["data"][0]["figi"] == "BBG000BLNNH6"
    assert list(answers[0]["data"][0]) == [
        "figi", "name", "ticker", "exchCode", "compositeFIGI", "securityType",
        "marketSector", "shareClassFIGI", "securityType2", "securityDescription",
    ]  # fmt: skip
    assert answers[1] == {"warning": "No identifier found."}
    assert answers[2] == {"error": "Invalid idValue format."}
    assert answers[3] == {"error": "Invalid value for idType."}
    # The 198-row ISIN answer, narrowed by exchCode to the one US composite row.
    assert [row["figi"] for row in answers[4]["data"]] == ["BBG000BLNNH6"]


def test_anonymous_headers_and_fixed_window_then_429(start_emulator: StartEmulator) -> None:
    limits = OpenFigiLimits(mapping_anonymous=WindowLimit(3, 1.0))
    url = start_emulator(limits=limits)
    job = [{"idType": "TICKER", "idValue": "IBM"}]
    seen = [_post(url, "/v3/mapping", job) for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert seen[0].headers["ratelimit-limit"] == "3"
    assert seen[0].headers["ratelimit-policy"] == "3;w=1"
    too_many = seen[3]
    assert too_many.headers["content-type"] == "text/html; charset=utf-8"
    assert too_many.text == TOO_MANY
    assert too_many.headers["retry-after"] == too_many.headers["ratelimit-reset"] == "1"
    time.sleep(1.05)  # the fixed window ends 1 s after its first request
    again = _post(url, "/v3/mapping", job)
    assert again.status_code == 200
    assert again.headers["ratelimit-remaining"] == "2"


def test_keyed_budget_is_separate_and_values_share_mapping_budget(
    start_emulator: StartEmulator,
) -> None:
    limits = OpenFigiLimits(mapping_keyed=WindowLimit(2, 6.0), mapping_anonymous=WindowLimit(1, 60))
    url = start_emulator(limits=limits, api_keys={KEY})
    job = [{"idType": "TICKER", "idValue": "IBM"}]
    assert _post(url, "/v3/mapping", job).status_code == 200
    assert _post(url, "/v3/mapping", job).status_code == 429  # anonymous budget spent
    keyed = _post(url, "/v3/mapping", job, KEY)
    assert keyed.status_code == 200
    assert keyed.headers["ratelimit-policy"] == "2;w=6"
    values = httpx.get(url + "/v3/mapping/values/idType", headers={"X-OPENFIGI-APIKEY": KEY})
    assert values.status_code == 200
    assert len(values.json()["values"]) == 28
    assert _post(url, "/v3/mapping", job, KEY).status_code == 429  # values spent the 2nd


def test_job_ceilings_answer_413(start_emulator: StartEmulator) -> None:
    url = start_emulator(api_keys={KEY})
    job = {"idType": "TICKER", "idValue": "IBM"}
    assert _post(url, "/v3/mapping", [job] * 10).status_code == 200
    too_many = _post(url, "/v3/mapping", [job] * 11)
    assert too_many.status_code == 413
    assert too_many.text == "Payload too large."
    assert _post(url, "/v3/mapping", [job] * 100, KEY).status_code == 200
    assert _post(url, "/v3/mapping", [job] * 101, KEY).status_code == 413


def test_bad_key_missing_key_bad_url_method_and_content_type(
    start_emulator: StartEmulator,
) -> None:
    url = start_emulator(api_keys={KEY}, require_key=True)
    job = [{"idType": "TICKER", "idValue": "AAPL", "exchCode": "US"}]
    bad_key = _post(url, "/v3/mapping", job, "INVALID")
    assert (bad_key.status_code, bad_key.text) == (401, "Invalid API key.")
    assert "ratelimit-remaining" not in bad_key.headers  # as recorded in 2025
    assert _post(url, "/v3/mapping", job).status_code == 401  # --keyed: a key is required
    ok = _post(url, "/v3/mapping", job, KEY)
    assert ok.json()[0]["data"][0]["figi"] == "BBG000B9XRY4"
    missing = httpx.get(url + "/v3/invalid-endpoint")
    assert (missing.status_code, missing.text) == (404, "Invalid url.")
    assert httpx.get(url + "/v3/mapping").status_code == 405
    as_text = httpx.post(
        url + "/v3/mapping",
        content=json.dumps(job),
        headers={"content-type": "text/plain", "X-OPENFIGI-APIKEY": KEY},
    )
    assert as_text.status_code == 415


def test_filter_pages_reproduce_the_recorded_22_pages(
    start_emulator: StartEmulator, openfigi_reference: Path
) -> None:
    url = start_emulator(limits=OpenFigiLimits(search_anonymous=WindowLimit(100, 60)))
    recorded = json.loads(
        (openfigi_reference / "pyopenfigi_vcr_2023" / "test_filter_multi_api_call.json").read_text()
    )
    recorded_figis = [row["figi"] for page in recorded for row in page["response"]["body"]["data"]]
    body: dict[str, object] = {"query": "CTA"}
    pages = []
    while True:
        response = _post(url, "/v3/filter", body)
        assert response.status_code == 200
        page = response.json()
        pages.append(page)
        if "next" not in page:
            break
        body = {"query": "CTA", "start": page["next"]}
    assert len(pages) == 22
    assert {p["total"] for p in pages} == {2104}
    assert [len(p["data"]) for p in pages] == [100] * 21 + [4]
    figis = [row["figi"] for p in pages for row in p["data"]]
    assert figis == recorded_figis
    assert figis == sorted(figis)
    forged = _post(url, "/v3/filter", {"query": "CTA", "start": "MTAwIDE=.AAAA"})
    assert "error" in forged.json()


def test_search_limit_is_five_per_minute_without_key(start_emulator: StartEmulator) -> None:
    url = start_emulator()
    statuses = [_post(url, "/v3/search", {"query": "Apple"}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    first = _post(url, "/v3/mapping", [{"idType": "TICKER", "idValue": "IBM"}])
    assert first.status_code == 200  # search and mapping budgets are separate


def test_injected_faults_then_recovery(start_emulator: StartEmulator) -> None:
    url = start_emulator()
    job = [{"idType": "TICKER", "idValue": "IBM"}]
    httpx.post(url + "/_emulator/faults", json={"status": 503, "count": 2})
    httpx.post(url + "/_emulator/faults", json={"status": 429, "count": 1, "retry_after_s": 7})
    httpx.post(url + "/_emulator/faults", json={"latency_s": 0.3, "count": 1})
    seen = [_post(url, "/v3/mapping", job) for _ in range(3)]
    assert [(r.status_code, r.text) for r in seen[:2]] == [(503, "Service Unavailable.")] * 2
    assert (seen[2].status_code, seen[2].headers["retry-after"]) == (429, "7")
    started = time.monotonic()
    slow = _post(url, "/v3/mapping", job)
    assert slow.status_code == 200
    assert time.monotonic() - started >= 0.3
    stats = httpx.get(url + "/_emulator/stats").json()
    assert stats["by_status"] == {"503": 2, "429": 1, "200": 1}


def test_stats_count_requests_in_any_window(start_emulator: StartEmulator) -> None:
    url = start_emulator(api_keys={KEY})
    job = [{"idType": "TICKER", "idValue": "IBM"}]
    for _ in range(4):
        _post(url, "/v3/mapping", job, KEY)
    stats = httpx.get(url + "/_emulator/stats", params={"window_s": 6}).json()
    assert stats["max_in_window"]["mapping"] == 4
    assert stats["total"] == 4
    assert all(KEY not in r["client"] for r in stats["requests"])  # the key is never echoed
    times = [r["t"] for r in stats["requests"]]
    assert times == sorted(times)
    httpx.post(url + "/_emulator/reset")
    assert httpx.get(url + "/_emulator/stats").json()["total"] == 0


def test_synthesize_maps_unknown_well_formed_ids(start_emulator: StartEmulator) -> None:
    url = start_emulator(synthesize=True)
    answers = _post(
        url,
        "/v3/mapping",
        [
            {"idType": "ID_CUSIP", "idValue": "931142103"},
            {"idType": "ID_CUSIP", "idValue": "000000000"},  # a recorded warning stays one
            {"idType": "ID_CUSIP", "idValue": "931142104"},
        ],
    ).json()
    row = answers[0]["data"][0]
    assert row["name"] == "SYNTHETIC 931142103"
    assert row["figi"] == row["compositeFIGI"] and row["exchCode"] == "US"
    assert answers[1] == {"warning": "No identifier found."}
    assert answers[2] == {"error": "Invalid idValue format."}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_serves_the_emulator_from_a_seed_file(tmp_path: Path, openfigi_seed: object) -> None:
    from secmaster_emulators.openfigi import OpenFigiSeed

    assert isinstance(openfigi_seed, OpenFigiSeed)
    seed_file = tmp_path / "seed.json"
    openfigi_seed.dump(seed_file)
    port = _free_port()
    code = "from secmaster_emulators.cli import main; main()"
    args = ["openfigi", "--port", str(port), "--seed", str(seed_file), "--keyed"]
    env = {**os.environ, "OPENFIGI_EMULATOR_KEYS": KEY}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                response = _post(url, "/v3/mapping", [{"idType": "TICKER", "idValue": "IBM"}], KEY)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the emulator CLI did not start")
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"] == "25;w=6"
        assert _post(url, "/v3/mapping", [], "other-key").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)

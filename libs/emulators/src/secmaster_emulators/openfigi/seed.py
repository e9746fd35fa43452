"""The emulator's data: a seed file of mapping answers, recorded search/filter results and
`/mapping/values` lists, plus a builder that makes one from the real recordings in
`reference/openfigi/` (read in place; nothing from there is copied into the repo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

FigiRow = dict[str, Any]

# Every recorded v3 row has exactly these keys, in this order (specs/openfigi.md section 1).
ROW_KEYS = (
    "figi",
    "name",
    "ticker",
    "exchCode",
    "compositeFIGI",
    "securityType",
    "marketSector",
    "shareClassFIGI",
    "securityType2",
    "securityDescription",
)


class SeedMapping(BaseModel):
    """The answer to one mapping job: exactly one of `data`, `warning`, `error`."""

    idType: str
    idValue: str
    filters: dict[str, Any] = Field(default_factory=dict)
    data: list[FigiRow] | None = None
    warning: str | None = None
    error: str | None = None


class SeedQuery(BaseModel):
    """A recorded `/v3/search` or `/v3/filter` result set (all pages' rows, in order)."""

    endpoint: Literal["search", "filter"]
    query: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    rows: list[FigiRow]
    total: int | None = None


class OpenFigiSeed(BaseModel):
    mappings: list[SeedMapping] = Field(default_factory=list)
    queries: list[SeedQuery] = Field(default_factory=list)
    values: dict[str, list[str]] = Field(default_factory=dict)
    # MIC -> exchCode, so a `micCode` filter can narrow rows that only carry exchCode.
    mic_exch_codes: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> OpenFigiSeed:
        """A seed JSON file, or a `reference/openfigi` directory to build one from."""
        if path.is_dir():
            return build_seed_from_reference(path)
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def dump(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1, exclude_none=True), encoding="utf-8")


def full_row(partial: dict[str, Any]) -> FigiRow:
    """A row with all 10 v3 keys in the real order, unknown ones null."""
    return {key: partial.get(key) for key in ROW_KEYS}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _add_answers(
    seed: OpenFigiSeed, jobs: list[dict[str, Any]], answers: list[dict[str, Any]]
) -> None:
    for job, answer in zip(jobs, answers, strict=True):
        filters = {k: v for k, v in job.items() if k not in ("idType", "idValue")}
        seed.mappings.append(
            SeedMapping(
                idType=job["idType"],
                idValue=str(job["idValue"]),
                filters=filters,
                data=answer.get("data"),
                warning=answer.get("warning"),
                error=answer.get("error"),
            )
        )


# The requests openfigi-rs sent for its recorded bodies (its scripts/fetch_test_data.sh,
# copied beside the data as fetch_test_data.sh.txt).
_RS25_JOBS: dict[str, list[dict[str, Any]]] = {
    "isin_example.json": [{"idType": "ID_ISIN", "idValue": "US4592001014"}],
    "cusip_with_exchange.json": [{"idType": "ID_CUSIP", "idValue": "459200101", "exchCode": "US"}],
    "ticker_with_security_type.json": [
        {"idType": "TICKER", "idValue": "IBM", "securityType2": "Common Stock"}
    ],
    "bulk_request.json": [
        {"idType": "ID_ISIN", "idValue": "US4592001014"},
        {"idType": "TICKER", "idValue": "AAPL", "securityType2": "Common Stock"},
    ],
    "currency_mic_example.json": [
        {"idType": "ID_ISIN", "idValue": "US0378331005", "currency": "EUR", "micCode": "XETR"}
    ],
    "invalid_identifier.json": [{"idType": "ID_ISIN", "idValue": "INVALID12345"}],
}


def build_seed_from_reference(reference_openfigi: Path) -> OpenFigiSeed:
    """Build a seed from the recordings under `reference/openfigi/` (see its README)."""
    root = reference_openfigi
    seed = OpenFigiSeed()
    seen: set[tuple[str, str, str]] = set()

    pyof = root / "pyopenfigi_vcr_2023"
    for path in sorted(pyof.glob("test_*.json")):
        for interaction in _read(path):
            request, response = interaction["request"], interaction["response"]
            if response["status"]["code"] != 200:
                continue
            uri: str = request["uri"]
            body = response["body"]
            if uri.endswith("/v3/mapping"):
                key = (path.name, json.dumps(request["body"]), "")
                if key not in seen:
                    seen.add(key)
                    _add_answers(seed, request["body"], body)
            elif "/v3/mapping/values/" in uri:
                seed.values[uri.rsplit("/", 1)[1]] = body["values"]
    _add_recorded_queries(seed, pyof)

    rs = root / "openfigi_rs_2025" / "tests_data" / "mapping"
    for name, jobs in _RS25_JOBS.items():
        if (rs / name).exists():
            _add_answers(seed, jobs, _read(rs / name))

    gad = root / "gadicc_openfigi_2025"
    for path in sorted(gad.glob("*.json")):
        record = _read(path)
        request, response = record["request"], record["response"]
        if response["status"] != 200:
            continue
        url: str = request["url"]
        if url.endswith("/v3/mapping"):
            _add_answers(seed, request["bodyJson"], response["bodyJson"])
        elif url.endswith(("/v3/search", "/v3/filter")):
            body = dict(request["bodyJson"])
            query = body.pop("query", None)
            seed.queries.append(
                SeedQuery(
                    endpoint="search" if url.endswith("search") else "filter",
                    query=query,
                    filters=body,
                    rows=response["bodyJson"]["data"],
                    total=response["bodyJson"].get("total"),
                )
            )

    enum_dir = root / "openfigi_rs_2025" / "enum_values"
    for values_key, name in (
        ("idType", "id_type_cache.json"),
        ("exchCode", "exch_code_cache.json"),
        ("micCode", "mic_code_cache.json"),
        ("currency", "currency_cache.json"),
        ("marketSecDes", "market_sec_desc_cache.json"),
        ("securityType", "security_type_cache.json"),
        ("securityType2", "security_type2_cache.json"),
        ("stateCode", "state_code_cache.json"),
    ):
        if values_key not in seed.values and (enum_dir / name).exists():
            loaded = _read(enum_dir / name)
            seed.values[values_key] = loaded["values"] if isinstance(loaded, dict) else loaded
    mic_table = enum_dir / "mapping_mic_figi-exchange-codes.csv"
    if mic_table.exists():
        lines = mic_table.read_text(encoding="utf-8").splitlines()[1:]
        for line in lines:
            cols = [c.strip() for c in line.split("|")]
            if len(cols) >= 5 and cols[0] and cols[4]:
                seed.mic_exch_codes.setdefault(cols[0], cols[4])

    _add_known_mappings(seed, root / "known_mappings.json")
    return seed


def _add_recorded_queries(seed: OpenFigiSeed, pyof: Path) -> None:
    """One result set per distinct first-page filter request, pages concatenated."""
    by_request: dict[str, SeedQuery] = {}
    for path in sorted(pyof.glob("test_*.json")):
        for interaction in _read(path):
            request, response = interaction["request"], interaction["response"]
            if not request["uri"].endswith(("/v3/filter", "/v3/search")):
                continue
            body = dict(request["body"])
            body.pop("start", None)
            query = body.pop("query", None)
            key = json.dumps([request["uri"], query, body], sort_keys=True)
            if key not in by_request:
                by_request[key] = SeedQuery(
                    endpoint="search" if request["uri"].endswith("search") else "filter",
                    query=query,
                    filters=body,
                    rows=[],
                    total=response["body"].get("total"),
                )
            known = {row["figi"] for row in by_request[key].rows}
            by_request[key].rows.extend(
                row for row in response["body"].get("data", []) if row["figi"] not in known
            )
    seed.queries.extend(by_request.values())


def _add_known_mappings(seed: OpenFigiSeed, path: Path) -> None:
    """Add the curated facts of known_mappings.json for ids no recording answers: the
    primary row only (the other listings were never copied)."""
    if not path.exists():
        return
    answered = {(m.idType, m.idValue, json.dumps(m.filters, sort_keys=True)) for m in seed.mappings}
    for entry in _read(path)["mappings"]:
        filters = entry.get("filters", {})
        key = (entry["idType"], entry["idValue"], json.dumps(filters, sort_keys=True))
        if key in answered:
            continue
        if "primary" in entry:
            primary = dict(entry["primary"])
            if entry["idType"] in ("ID_BB_GLOBAL",) and "figi" not in primary:
                primary["figi"] = entry["idValue"]
            if "figi" not in primary:
                continue
            seed.mappings.append(
                SeedMapping(
                    idType=entry["idType"],
                    idValue=entry["idValue"],
                    filters=filters,
                    data=[full_row(primary)],
                )
            )
        elif "result" in entry:
            seed.mappings.append(
                SeedMapping(
                    idType=entry["idType"],
                    idValue=entry["idValue"],
                    filters=filters,
                    warning=entry["result"].get("warning"),
                    error=entry["result"].get("error"),
                )
            )
        answered.add(key)

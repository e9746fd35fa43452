"""Read answers kept outside this service, for `secmaster figi cache import FILE`: a legacy
JSON cache (keyed `"{idType}_{idValue}"` like robarthur/openfigi-cache, or a list of
`{idType, idValue, filters, data|warning|error|primary}` entries like the emulator seed and
`known_mappings.json`), or a CSV with ticker, ISIN, CUSIP and FIGI columns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enrichment.adapters.openfigi import listing_from_row, result_from_answer
from enrichment.domain import (
    ID_TYPES,
    FigiListing,
    MappingJob,
    MappingResult,
    MappingStatus,
    is_cusip,
    is_figi,
    is_isin,
)

# Longest first, so "ID_BB_GLOBAL_SHARE_CLASS_LEVEL_x" is not read as ID_BB_GLOBAL.
_ID_TYPES_LONGEST_FIRST = sorted(ID_TYPES, key=len, reverse=True)


class LegacyCacheError(ValueError):
    """The file cannot be read as any legacy cache shape."""


@dataclass
class LegacyCache:
    """Answers found in a file, and every entry that was left out with its reason."""

    results: list[MappingResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        mapped = sum(r.status is MappingStatus.MAPPED for r in self.results)
        return {
            "mapped": mapped,
            "not_found": len(self.results) - mapped,
            "skipped": len(self.skipped),
        }


def read_legacy_cache(path: Path) -> LegacyCache:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LegacyCacheError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise LegacyCacheError(f"{path} is not UTF-8 text ({exc.reason})") from None
    if path.suffix.lower() == ".csv" or not text.lstrip().startswith(("{", "[")):
        return read_csv(text, source=str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LegacyCacheError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return read_json(data, source=str(path))


def read_json(data: Any, *, source: str = "JSON") -> LegacyCache:
    out = LegacyCache()
    if isinstance(data, Mapping) and isinstance(data.get("mappings"), list):
        entries: Any = data["mappings"]
    elif isinstance(data, list):
        entries = data
    elif isinstance(data, Mapping):
        for key, answer in data.items():
            _add_keyed(out, str(key), answer)
        return out
    else:
        raise LegacyCacheError(
            f"{source}: expected an object keyed by '<idType>_<idValue>', a list of entries, "
            'or {"mappings": [...]}'
        )
    for i, entry in enumerate(entries):
        _add_entry(out, i, entry)
    return out


def _add_keyed(out: LegacyCache, key: str, answer: Any) -> None:
    id_type = next((t for t in _ID_TYPES_LONGEST_FIRST if key.startswith(t + "_")), None)
    if id_type is None or len(key) == len(id_type) + 1:
        out.skipped.append(f"key {key!r}: not '<OpenFIGI idType>_<idValue>'")
        return
    job = MappingJob(id_type, key[len(id_type) + 1 :])
    if isinstance(answer, list):  # some caches keep only the rows
        answer = {"data": answer}
    _add_answer(out, f"key {key!r}", job, answer)


def _add_entry(out: LegacyCache, index: int, entry: Any) -> None:
    where = f"entry {index}"
    if not isinstance(entry, Mapping):
        out.skipped.append(f"{where}: not an object")
        return
    id_type, id_value = entry.get("idType"), entry.get("idValue")
    if id_type not in ID_TYPES or not isinstance(id_value, str | int) or id_value == "":
        out.skipped.append(f"{where}: needs an OpenFIGI idType and an idValue")
        return
    try:
        job = MappingJob.from_filters(str(id_type), str(id_value), dict(entry.get("filters") or {}))
    except (ValueError, TypeError) as exc:
        out.skipped.append(f"{where}: {exc}")
        return
    primary = entry.get("primary")
    if isinstance(primary, Mapping) and primary.get("figi"):
        out.results.append(MappingResult.mapped(job, [listing_from_row(primary)]))
        return
    _add_answer(out, where, job, entry)


def _add_answer(out: LegacyCache, where: str, job: MappingJob, answer: Any) -> None:
    result = result_from_answer(job, answer)
    if result.status is MappingStatus.INVALID:
        # eBull's lesson (specs/openfigi.md section 7): an `error` is not a negative answer.
        out.skipped.append(f"{where}: error answer not imported ({result.message})")
        return
    out.results.append(result)


_CSV_IDS = (("isin", "ID_ISIN", is_isin), ("cusip", "ID_CUSIP", is_cusip))


def read_csv(text: str, *, source: str = "CSV") -> LegacyCache:
    """Each row maps its ISIN, its CUSIP and its FIGI itself to (FIGI, ticker); a row with
    a bad FIGI, ISIN or CUSIP check digit is skipped with its line number. Headers are
    matched case-insensitively (`ticker`, `isin`, `cusip`, `figi`, optional `name`,
    `exch_code`/`exchCode`)."""
    reader = csv.DictReader(io.StringIO(text))
    headers = {h.strip().lower(): h for h in reader.fieldnames or []}
    if "figi" not in headers or not ({"isin", "cusip", "ticker"} & headers.keys()):
        raise LegacyCacheError(
            f"{source}: a CSV cache needs a FIGI column and at least one of ticker, ISIN, "
            f"CUSIP (found: {', '.join(reader.fieldnames or []) or 'no header'})"
        )
    out = LegacyCache()
    for line, row in _rows(reader, headers):
        where = f"{source} line {line}"
        figi = row.get("figi", "").upper()
        if not is_figi(figi):
            out.skipped.append(f"{where}: FIGI {figi!r} is not a valid FIGI")
            continue
        ids = [(column, id_type, row.get(column, "").upper()) for column, id_type, _ in _CSV_IDS]
        bad = [
            f"{column.upper()} {value!r}"
            for (column, _, value), (_, _, valid) in zip(ids, _CSV_IDS, strict=True)
            if value and not valid(value)
        ]
        if bad:
            # One wrong identifier casts doubt on the whole row: skip it all.
            out.skipped.append(f"{where}: {', '.join(bad)} has a bad check digit; row skipped")
            continue
        listing = FigiListing(
            figi=figi,
            ticker=row.get("ticker") or None,
            name=row.get("name") or None,
            exch_code=row.get("exch_code") or row.get("exchcode") or None,
        )
        out.results.append(MappingResult.mapped(MappingJob("ID_BB_GLOBAL", figi), [listing]))
        out.results.extend(
            MappingResult.mapped(MappingJob(id_type, value), [listing])
            for _, id_type, value in ids
            if value
        )
    return out


def _rows(
    reader: csv.DictReader[str], headers: Mapping[str, str]
) -> Iterator[tuple[int, dict[str, str]]]:
    for row in reader:
        yield (
            reader.line_num,
            {name: (row.get(original) or "").strip() for name, original in headers.items()},
        )

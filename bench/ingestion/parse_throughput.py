"""Parse+validate throughput of `parse_file` versus a bare lxml iterparse of the same FIRDS
file, each in its own process so peak RSS (ru_maxrss) is per mode.

    uv run python bench/ingestion/parse_throughput.py FILE.xml
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def bare(path: Path) -> int:
    from lxml import etree

    count = 0
    for _event, element in etree.iterparse(str(path), events=("end",), tag="{*}RefData"):
        count += 1
        element.clear(keep_tail=False)
        parent = element.getparent()
        while element.getprevious() is not None and parent is not None:
            del parent[0]
    return count


def full(path: Path) -> int:
    from ingestion.domain.records import Reject
    from ingestion.parsers import parse_file

    count = 0
    for item in parse_file(path, "firds").items:
        if isinstance(item, Reject):
            raise SystemExit(f"unexpected reject: {item}")
        count += 1
    return count


def run_one(mode: str, path: Path) -> None:
    started = time.perf_counter()
    count = (bare if mode == "bare" else full)(path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "records": count, "seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    if len(sys.argv) == 3:
        run_one(sys.argv[1], Path(sys.argv[2]))
        return
    path = Path(sys.argv[1])
    results = {}
    for mode in ("bare", "full"):
        out = subprocess.run(
            [sys.executable, __file__, mode, str(path)], check=True, capture_output=True, text=True
        )
        results[mode] = json.loads(out.stdout)
    b, f = results["bare"], results["full"]
    print(f"{path.name}: {b['records']:,} records, {path.stat().st_size / 1e6:,.0f} MB")
    for label, r in (("bare iterparse", b), ("parse+validate", f)):
        rate = r["records"] / r["seconds"]
        print(f"  {label}: {rate:>10,.0f} rec/s  peak {r['peak_mb']:.0f} MB")
    print(f"  ratio: {b['seconds'] / f['seconds']:.2f}")


if __name__ == "__main__":
    main()

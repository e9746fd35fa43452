"""`secmaster demo`: the walking skeleton end to end on the embedded stack in sandbox mode.

A holdings file of fictional issuers goes in through the ingestion service's HTTP upload;
the demo then watches the indexer's API until the holdings-weighted index has a level for
every trading day the prices cover, and reports what each service produced.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from secmaster import demo_data
from secmaster.stack import Stack
from secmaster_common.events import IndexDefinitionPublished
from secmaster_common.kafka import publish_events


async def publish_definition(
    bootstrap: str, definition: dict[str, Any], *, prefix: str = ""
) -> None:
    """Publish an index definition the way any outside producer would."""
    payload = IndexDefinitionPublished(index_id=definition["id"], definition=definition)
    await publish_events(
        bootstrap, [(payload, definition["id"])], producer="secmaster-demo", topic_prefix=prefix
    )


def upload_holdings(ingestion_url: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        r = httpx.post(
            ingestion_url + "/files",
            files={"file": (path.name, fh, "text/csv")},
            data={
                "portfolio_id": demo_data.PORTFOLIO_ID,
                "as_of": demo_data.AS_OF.isoformat(),
                "format": "holdings",
            },
            timeout=60,
        )
    r.raise_for_status()
    return dict(r.json())


def wait_for_levels(
    stack: Stack, *, expected_instruments: int, timeout: float, say: Any
) -> dict[str, Any]:
    """Poll the services until every instrument is mapped and priced and the index has a
    level on the last priced day."""
    deadline = time.monotonic() + timeout
    last_note = ""
    while time.monotonic() < deadline:
        stats = httpx.get(stack.urls["enrichment"] + "/cache/stats", timeout=5).json()
        pricing = httpx.get(stack.urls["pricing"] + "/stats", timeout=5).json()
        r = httpx.get(stack.urls["indexer"] + f"/indexes/{demo_data.INDEX_ID}/levels", timeout=5)
        levels = r.json()["levels"] if r.status_code == 200 else []
        note = (
            f"mapped {stats['mapped']}/{expected_instruments}, priced {pricing['instruments']}/"
            f"{expected_instruments}, bars {pricing['bars']}, index levels {len(levels)}"
        )
        if note != last_note:
            say(note)
            last_note = note
        if (
            stats["mapped"] >= expected_instruments
            and pricing["instruments"] >= expected_instruments
            and levels
            and levels[-1]["date"] == pricing["last_date"]
        ):
            return {"mapped": stats["mapped"], "bars": pricing["bars"], "levels": levels}
        time.sleep(0.5)
    raise TimeoutError(f"the demo flow did not complete in {timeout:.0f}s ({last_note})")


def run_demo(stack: Stack, *, say: Any = print, timeout: float = 180.0) -> dict[str, Any]:
    started = time.monotonic()
    holdings = demo_data.write_holdings_csv(stack.home / "sandbox" / "demo-holdings.csv")
    say(f"demo: {demo_data.LABEL}")
    asyncio.run(
        publish_definition(stack.bootstrap, demo_data.index_definition(), prefix=stack.topic_prefix)
    )
    summary = upload_holdings(stack.urls["ingestion"], holdings)
    say(
        f"ingested {summary['records']} holdings from {holdings.name} "
        f"as portfolio {summary['portfolio_id']}"
    )
    done = wait_for_levels(stack, expected_instruments=summary["records"], timeout=timeout, say=say)
    return {
        "instruments": summary["records"],
        "securities_mapped": done["mapped"],
        "bars": done["bars"],
        "index_levels": [
            {"index_id": demo_data.INDEX_ID, "date": lv["date"], "level": lv["level"]}
            for lv in done["levels"]
        ],
        "elapsed_s": round(time.monotonic() - started, 3),
    }

"""`secmaster index define|list|show|levels` through the real root app, against a real
Postgres (as the indexer app role) and a real broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from secmaster.cli import build_app
from secmaster_common.events import topics
from secmaster_common.kafka import ensure_topics

from .conftest import DAYS, Indexer, bars, walk

pytestmark = pytest.mark.integration

SPEC = """
id: xy
name: X and Y equal weight
base_date: {base}
weighting: equal
universe: {{constituents: [X, Y]}}
rebalance: never
"""


async def _cli(args: list[str], env: dict[str, str]) -> Any:
    # The commands run their own event loop, so they run in a thread beside this one.
    return await asyncio.to_thread(CliRunner().invoke, build_app(), args, env=env)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "xy.yaml"
    path.write_text(SPEC.format(base=DAYS[0].isoformat()))
    return path


async def test_define_direct_then_list_show_and_levels(
    indexer: Indexer, fresh_database: str, spec: Path
) -> None:
    env = {"DATABASE_URL": fresh_database, "KAFKA_BOOTSTRAP_SERVERS": ""}
    defined = await _cli(["index", "define", str(spec), "--direct", "--json"], env)
    assert defined.exit_code == 0, defined.output
    assert json.loads(defined.stdout) == {
        "index_id": "xy",
        "version": 1,
        "created": True,
        "via": "database",
    }
    again = await _cli(["index", "define", str(spec), "--direct"], env)
    assert again.stdout.strip() == "xy is unchanged (still version 1)"

    listed = await _cli(["index", "list", "--json"], env)
    [row] = json.loads(listed.stdout)
    assert (row["index_id"], row["status"], row["pending"], row["levels"]) == (
        "xy",
        "queued",
        "definition v1",
        0,
    )

    x, y = walk(1), walk(2)
    await indexer.bars(bars("X", DAYS, x))
    await indexer.bars(bars("Y", DAYS, y))
    await indexer.run_queue()

    shown = json.loads((await _cli(["index", "show", "xy", "--json"], env)).stdout)
    assert (shown["status"], shown["levels"], shown["last_date"]) == (
        "computed",
        len(DAYS),
        DAYS[-1].isoformat(),
    )
    assert shown["definition"]["universe"]["constituents"][0]["symbol"] == "X"
    assert [(v["version"], v["levels"]) for v in shown["versions"]] == [(1, len(DAYS))]

    window = ["--start", DAYS[5].isoformat(), "--end", DAYS[9].isoformat()]
    result = await _cli(["index", "levels", "xy", *window, "--json"], env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [lv["date"] for lv in doc["levels"]] == [d.isoformat() for d in DAYS[5:10]]
    expected = [100 * (a / x[0] + b / y[0]) / 2 for a, b in zip(x[5:10], y[5:10], strict=True)]
    assert [lv["level"] for lv in doc["levels"]] == pytest.approx(expected, rel=1e-12)

    table = await _cli(["index", "levels", "xy"], env)
    assert f"xy v1: {len(DAYS)} levels" in table.stdout

    unknown = await _cli(["index", "show", "nope"], env)
    assert unknown.exit_code != 0 and "no index 'nope'" in unknown.output


async def test_define_rejects_an_invalid_file_and_a_missing_broker(
    tmp_path: Path, spec: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: X\nbase_date: 2024-01-02\nweighting: sideways\n")
    result = await _cli(["index", "define", str(bad)], {"KAFKA_BOOTSTRAP_SERVERS": ""})
    assert result.exit_code == 2
    assert "weighting" in result.output and "universe" in result.output

    result = await _cli(["index", "define", str(spec)], {"KAFKA_BOOTSTRAP_SERVERS": ""})
    assert result.exit_code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in result.output and "--direct" in result.output


async def test_define_publishes_the_definition_event(
    kafka_bootstrap: str, unique_prefix: str, spec: Path
) -> None:
    topic = unique_prefix + topics.INDEXES_DEFINITIONS
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC_PREFIX": unique_prefix}
    result = await _cli(["index", "define", str(spec), "--json"], env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["topic"], report["via"]) == (topic, "kafka")

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batch = await consumer.getmany(partition, timeout_ms=5000)
    finally:
        await consumer.stop()
    [record] = batch[partition]
    envelope = json.loads(record.value)
    assert record.key == b"xy"
    assert envelope["event_id"] == report["event_id"]
    assert envelope["payload"]["definition"]["universe"]["constituents"] == [
        {"symbol": "X", "start": None, "end": None},
        {"symbol": "Y", "start": None, "end": None},
    ]

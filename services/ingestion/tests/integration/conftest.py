"""Fixtures over the real broker and Postgres: an ingestion engine on a fresh database, the
outbox relay run to empty, and a reader that counts what reached a topic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import drain_outbox
from secmaster_common.events import topics
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.kafka import read_envelopes as read_topic


@dataclass
class Topics:
    """The prefixed topic names of one test."""

    prefix: str
    bootstrap: str

    @property
    def instruments(self) -> str:
        return self.prefix + topics.REFERENCE_INSTRUMENTS

    @property
    def holdings(self) -> str:
        return self.prefix + topics.REFERENCE_HOLDINGS

    @property
    def submitted(self) -> str:
        return self.prefix + topics.INSTRUMENTS_SUBMITTED


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """The ingestion service's engine, connected as its app role."""
    eng = make_engine(service_role_dsn(fresh_database, "ingestion", "app"), schema="ingestion")
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def test_topics(kafka_bootstrap: str, unique_prefix: str) -> Topics:
    names = Topics(prefix=unique_prefix, bootstrap=kafka_bootstrap)
    await ensure_topics(
        kafka_bootstrap,
        [names.instruments, names.holdings, names.submitted, topics.dlq(names.submitted)],
        partitions=1,
    )
    return names


@pytest.fixture
def publish(engine: AsyncEngine, test_topics: Topics) -> Callable[[], Awaitable[int]]:
    """Run the outbox relay until the outbox is empty; returns the rows it sent."""

    async def run() -> int:
        return await drain_outbox(
            service="ingestion",
            engine=engine,
            bootstrap_servers=test_topics.bootstrap,
            topic_prefix=test_topics.prefix,
        )

    return run


@dataclass(frozen=True)
class FirdsRow:
    """One synthetic FIRDS record: `kind` is None in a full file, else the delta element
    (NewRcrd, ModfdRcrd, TermntdRcrd, CancRcrd)."""

    n: int
    name: str | None = None
    mic: str = "XEUR"
    kind: str | None = None
    terminated: str = "2031-01-15T23:59:59Z"

    @property
    def isin(self) -> str:
        from stdnum import isin as std_isin

        body = f"DE{self.n:09d}"
        return body + std_isin.calc_check_digit(body)

    def xml(self) -> str:
        body = (
            f"<FinInstrmGnlAttrbts><Id>{self.isin}</Id>"
            f"<FullNm>{self.name or f'TEST INSTRUMENT {self.n}'}</FullNm>"
            f"<ShrtNm>TST/{self.n}</ShrtNm><ClssfctnTp>FFSCSX</ClssfctnTp>"
            "<NtnlCcy>EUR</NtnlCcy></FinInstrmGnlAttrbts><Issr>529900UT4DG0LG5R9O07</Issr>"
            f"<TradgVnRltdAttrbts><Id>{self.mic}</Id><FrstTradDt>2019-12-23T00:50:00Z</FrstTradDt>"
            f"<TermntnDt>{self.terminated}</TermntnDt></TradgVnRltdAttrbts>"
            "<TechAttrbts><RlvntCmptntAuthrty>DE</RlvntCmptntAuthrty>"
            "<PblctnPrd><FrDt>2019-12-24</FrDt></PblctnPrd></TechAttrbts>"
        )
        if self.kind is None:
            return f"<RefData>{body}</RefData>\n"
        return f"<FinInstrm><{self.kind}>{body}</{self.kind}></FinInstrm>\n"


def firds_xml(rows: list[FirdsRow], *, delta: bool) -> str:
    """A FULINS (auth.017) or DLTINS (auth.036) file holding `rows`."""
    auth, report = (
        ("auth.036.001.02", "FinInstrmRptgRefDataDltaRpt")
        if delta
        else ("auth.017.001.02", "FinInstrmRptgRefDataRpt")
    )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<BizData xmlns="urn:iso:std:iso:20022:tech:xsd:head.003.001.01"><Pyld>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{auth}"><{report}>'
        "<RptHdr><RptgPrd><Dt>2021-01-16</Dt></RptgPrd></RptHdr>\n"
    )
    return head + "".join(r.xml() for r in rows) + f"</{report}></Document></Pyld></BizData>\n"


@dataclass(frozen=True)
class FirdsFiles:
    """Writes synthetic FIRDS files into the test's temporary directory."""

    folder: Path
    row: type[FirdsRow] = FirdsRow

    def write(self, name: str, rows: list[FirdsRow], *, delta: bool = False) -> Path:
        path = self.folder / name
        path.write_text(firds_xml(rows, delta=delta), encoding="utf-8")
        return path


@pytest.fixture
def firds(tmp_path: Path) -> FirdsFiles:
    return FirdsFiles(tmp_path)


@pytest.fixture
def read(kafka_bootstrap: str) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """`await read(topic)`: every message now on the topic, decoded."""

    async def run(topic: str) -> list[dict[str, Any]]:
        return await read_topic(kafka_bootstrap, topic)

    return run

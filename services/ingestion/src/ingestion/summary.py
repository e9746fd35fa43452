"""What ingesting one file did: rows read, records kept, events published, rows quarantined
by reason; the CLI, the HTTP upload and the drop folder all report it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestSummary:
    """Counts for one file (or one consumed message). `published` counts outbox events;
    `changes` splits instrument events by kind; `unchanged` counts records equal to the
    version already stored; `field_issues` counts values dropped from kept records."""

    path: str
    format: str
    portfolio_id: str
    as_of: dt.date | None
    file_id: int | None = None
    rows_read: int = 0
    records: int = 0
    published: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    duplicate_of: int | None = None
    snapshot_id: uuid.UUID | None = None
    changes: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    field_issues: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "portfolio_id": self.portfolio_id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "file_id": self.file_id,
            "rows_read": self.rows_read,
            "records": self.records,
            "published": self.published,
            "quarantined": dict(self.quarantined),
            "duplicate_of": self.duplicate_of,
            "snapshot_id": str(self.snapshot_id) if self.snapshot_id else None,
            "changes": dict(self.changes),
            "unchanged": self.unchanged,
            "field_issues": dict(self.field_issues),
        }

"""Keeping a checked value or recording why not: the one way every parser turns a field
that fails its check into a FieldIssue on the record instead of rejecting the record."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ingestion.domain.identifiers import Verdict
from ingestion.domain.reasons import Reason
from ingestion.domain.records import FieldIssue

T = TypeVar("T")


def issue_of(field: str, value: str, verdict: Verdict) -> FieldIssue:
    """The issue a failed check records."""
    reason = verdict.reason or Reason.BAD_FORMAT
    return FieldIssue(field=field, value=value, reason=reason, detail=verdict.detail)


def valid_or_issue(
    issues: list[FieldIssue], field: str, value: str | None, check: Callable[[str], Verdict]
) -> str | None:
    """The normalized value, or None with the failed check recorded in `issues`."""
    if value is None:
        return None
    verdict = check(value)
    if verdict.valid:
        return verdict.normalized
    issues.append(issue_of(field, value, verdict))
    return None


def parsed_or_issue(
    issues: list[FieldIssue], field: str, value: str | None, parse: Callable[[str], T]
) -> T | None:
    """The parsed date or timestamp, or None with the bad value recorded in `issues`."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        issues.append(FieldIssue(field=field, value=value, reason=Reason.BAD_DATE, detail=str(exc)))
        return None

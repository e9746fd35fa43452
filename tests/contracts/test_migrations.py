"""Every service's Alembic history: revision files named YYYYMMDDHHMMSS_description.py, in
time order along one linear chain, version table kept in the service's own schema."""

from __future__ import annotations

import re

import pytest
from alembic.script import ScriptDirectory

from secmaster_common.db.migrations import alembic_config
from secmaster_common.services import installed_services

NAME = re.compile(r"^(\d{14})_[a-z0-9_]+\.py$")


@pytest.mark.parametrize("svc", installed_services(), ids=lambda s: s.name)
def test_revisions_are_named_by_time_and_form_one_chain(svc) -> None:  # type: ignore[no-untyped-def]
    script = ScriptDirectory.from_config(alembic_config(svc.migrations_dir, schema=svc.schema))
    assert script.get_heads() == [script.get_current_head()], "more than one head"
    chain = list(reversed(list(script.walk_revisions())))  # base first
    stamps = []
    for rev in chain:
        name = rev.path.rsplit("/", 1)[-1]
        match = NAME.match(name)
        assert match, f"{name}: revision files are named YYYYMMDDHHMMSS_description.py"
        stamps.append(match.group(1))
        assert rev.revision.startswith(f"{svc.name}_"), rev.revision
    assert stamps == sorted(stamps), "file timestamps must follow the revision chain"
    assert chain[0].down_revision is None

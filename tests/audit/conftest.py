"""Fixtures of the audit tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.helpers import fresh_chain_offset


class Chains:
    """Chain numbers no log row has used yet: `chains[0]` .. `chains[3]`."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __getitem__(self, n: int) -> int:
        return self.offset + n

    def __iter__(self) -> Any:
        return iter(range(self.offset, self.offset + 4))


@pytest.fixture
def chains(settings: Any) -> Chains:
    """Four unused chains (AUDIT_CHAINS widened to reach them): tests of a chain's start."""
    offset = fresh_chain_offset(4)
    settings.AUDIT_CHAINS = offset + 4
    return Chains(offset)

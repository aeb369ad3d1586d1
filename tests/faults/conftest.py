"""Fault suite fixtures; the knobs (environment variables) are described in support/knobs.py."""

from __future__ import annotations

import pytest
from support.knobs import Knobs


@pytest.fixture
def knobs() -> Knobs:
    return Knobs.from_env()

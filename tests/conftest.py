"""Fixtures shared by the test modules."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.wsgi_helpers import LogCapture


@pytest.fixture
def log(request: pytest.FixtureRequest) -> Iterator[LogCapture]:
    """A logger of this test's own (``log.logger``) whose records are kept in ``log``."""
    logger = logging.getLogger(f"tests.{request.module.__name__}.{request.node.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LogCapture(logger)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)

"""Fixtures of the observability tests."""

from collections.abc import Iterator

import pytest

from tests.platform.observability.fake_es import FakeElasticsearch


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    """A fake Elasticsearch on a free port, stopped after the test."""
    fake = FakeElasticsearch()
    fake.start()
    yield fake
    fake.stop()

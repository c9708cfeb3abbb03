"""Shared fixtures. PostgreSQL tests run against `AION_TEST_POSTGRES_URL` (`.ci/run` sets it)."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

POSTGRES_ENV = "AION_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = f"set {POSTGRES_ENV} to run the PostgreSQL conformance suite (.ci/run does)"


def postgres_base_url() -> str | None:
    """The server URL tests may create throwaway databases on, or None."""
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(scope="session")
def postgres_admin():
    """An AUTOCOMMIT engine on the server of `AION_TEST_POSTGRES_URL` (CREATE/DROP DATABASE)."""
    url = postgres_base_url()
    if url is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    from sqlalchemy import text

    name = f"aion_test_{uuid.uuid4().hex[:16]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

import pytest

import aion_actors as aion


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path}/aion.db"


@pytest.fixture
def make_engine(store_url):
    """Open engines on one SQLite file; all are closed at the end of the test."""
    engines = []

    def make(workflows=(), activities=(), **kwargs):
        engine = aion.Engine(store=kwargs.pop("store", store_url), workflows=list(workflows),
                             activities=list(activities), **kwargs).open()
        engines.append(engine)
        return engine

    yield make
    for engine in reversed(engines):
        engine.close()

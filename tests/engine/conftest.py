import pytest

import aion_actors as aion


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path}/aion.db"


@pytest.fixture(params=["inprocess", "local"])
def runtime(request):
    """Every engine test runs on both runtimes: same code, same results."""
    return request.param


@pytest.fixture
def make_engine(store_url, runtime):
    """Open engines on one SQLite file; all are closed at the end of the test."""
    engines = []

    def make(workflows=(), activities=(), **kwargs):
        kwargs.setdefault("runtime", runtime)
        engine = aion.Engine(store=kwargs.pop("store", store_url), workflows=list(workflows),
                             activities=list(activities), **kwargs).open()
        engines.append(engine)
        return engine

    yield make
    for engine in reversed(engines):
        engine.close()


EFFECTS_VAR = "AION_TEST_EFFECTS"


def record_effect(name: str) -> None:
    """Called by test activities: one line per side effect, in whatever process runs them."""
    import os

    with open(os.environ[EFFECTS_VAR], "a") as f:
        f.write(name + "\n")


class Effects:
    def __init__(self, path):
        self.path = path

    def count(self, name: str) -> int:
        if not self.path.exists():
            return 0
        return self.path.read_text().splitlines().count(name)

    def all(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []


@pytest.fixture
def effects(tmp_path, monkeypatch):
    """Side effects counted in a file, so activities in other processes are counted too."""
    path = tmp_path / "effects.log"
    monkeypatch.setenv(EFFECTS_VAR, str(path))
    return Effects(path)

"""Engine settings are validated when the Engine is built, before any store or actor exists."""

from __future__ import annotations

import pytest

import aion_actors as aion
from aion_actors.config import EngineConfig


@pytest.mark.parametrize("options, says", [
    ({"runtime": "cluster"}, "unknown runtime 'cluster'; available: inprocess, local"),
    ({"durability": "paper"}, "unknown durability 'paper'; one of process, fsync"),
    ({"runtime": "local", "time_skipping": True}, "time skipping needs runtime='inprocess'"),
    ({"runtime": "local", "store": "memory:"}, "give it a store URL they can open too"),
    ({"runtime": "local", "store": "sqlite://"}, "give it a store URL they can open too"),
    ({"activity_workers": 0}, "activity_workers must be an int >= 1, got 0"),
    ({"activity_workers": 2.5}, "activity_workers must be an int >= 1"),
    ({"idle_timeout": -1}, "idle_timeout must be >= 0 seconds, got -1"),
    ({"idle_timeout": "60"}, "idle_timeout must be >= 0 seconds"),
    ({"max_resident": 0}, "max_resident must be an int >= 1, got 0"),
    ({"max_resident": True}, "max_resident must be an int >= 1"),
    ({"activity_cancel_grace": float("inf")}, "activity_cancel_grace must be a number of seconds >= 0"),
    ({"time_skipping": "yes"}, "time_skipping must be True or False"),
    ({"serve_requests": 1}, "serve_requests must be True, False or None"),
    ({"node_id": ""}, "node_id must be a non-empty string"),
    ({"node_id": 7}, "node_id must be a non-empty string"),
    ({"lease_ttl": 0.5}, "lease_ttl must be a number of seconds >= 1.0"),
    ({"lease_ttl": float("inf")}, "lease_ttl must be a number of seconds >= 1.0"),
    ({"capabilities": [""]}, "capabilities must be a list of non-empty strings"),
    ({"capabilities": 5}, "capabilities must be a list of non-empty strings"),
])
def test_a_bad_setting_is_refused_with_what_to_do(tmp_path, options, says):
    store = options.pop("store", f"sqlite:///{tmp_path}/aion.db")
    with pytest.raises(aion.InvalidArgument) as caught:
        aion.Engine(store, **options)
    assert says in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing was opened


@pytest.mark.parametrize("runtime, default", [("inprocess", 10_000), ("local", 64)])
def test_max_resident_defaults_to_what_the_runtime_affords(tmp_path, runtime, default):
    config = EngineConfig(store=f"sqlite:///{tmp_path}/aion.db", runtime=runtime)
    assert config.max_resident == default
    assert EngineConfig(max_resident=5).max_resident == 5


def test_a_config_is_frozen():
    with pytest.raises(AttributeError):
        EngineConfig().idle_timeout = 1  # type: ignore[misc]


def test_an_infinite_idle_timeout_means_never_passivate_for_idleness():
    assert EngineConfig(idle_timeout=float("inf")).idle_timeout == float("inf")

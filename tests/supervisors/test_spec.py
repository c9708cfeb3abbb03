"""The one validator names the bad field and what is allowed."""

from __future__ import annotations

import pickle

import pytest

from supervisors import ChildSpec, Configure, SpecError, Start, Supervisor, SupervisorSpec
from supervisors.spec import _validate as validate

from .actors import Cfg, Worker


def child(id="w", **kw):
    return ChildSpec(id, Start(Worker, Cfg("/dev/null")), **kw)


def test_defaults_are_valid_and_picklable():
    spec = SupervisorSpec(children=(child(),))
    assert validate(spec) is spec
    assert (spec.strategy, spec.intensity, spec.period, spec.auto_shutdown) == \
        ("one_for_one", 1, 5.0, "never")
    c = spec.children[0]
    assert (c.restart, c.shutdown, c.significant, c.type) == ("permanent", 5.0, False, "worker")
    assert pickle.loads(pickle.dumps(Configure(spec))) == Configure(spec)


@pytest.mark.parametrize("spec,field,allowed", [
    (SupervisorSpec(strategy="one_for_some"), "strategy", "one_for_all"),
    (SupervisorSpec(intensity=-1), "intensity", "integer >= 0"),
    (SupervisorSpec(intensity=1.5), "intensity", "integer >= 0"),
    (SupervisorSpec(period=0), "period", "positive"),
    (SupervisorSpec(auto_shutdown="sometimes"), "auto_shutdown", "any_significant"),
    (SupervisorSpec(children=[child()]), "children", "tuple"),
    (SupervisorSpec(children=("w",)), "children[0]", "ChildSpec"),
    (SupervisorSpec(children=(child(restart="sometimes"),)), "children[0].restart", "transient"),
    (SupervisorSpec(children=(child(), child("x", shutdown=-1))), "children[1].shutdown", "brutal_kill"),
    (SupervisorSpec(children=(child(shutdown="never"),)), "children[0].shutdown", "infinity"),
    (SupervisorSpec(children=(child(shutdown=True),)), "children[0].shutdown", ">= 0"),
    (SupervisorSpec(children=(child(type="manager"),)), "children[0].type", "supervisor"),
    (SupervisorSpec(children=(ChildSpec("w", (Worker, None)),)), "children[0].start", "Start"),
    (SupervisorSpec(children=(ChildSpec("w", Start("Worker")),)), "children[0].start.actor_class", "class"),
    (SupervisorSpec(children=(ChildSpec(["w"], Start(Worker)),)), "children[0].id", "hashable"),
    (SupervisorSpec(children=(child(), child())), "children[1].id", "not used by another"),
    (SupervisorSpec(children=(child(significant=True, restart="transient"),)),
     "children[0].significant", "auto_shutdown"),
    (SupervisorSpec(auto_shutdown="any_significant", children=(child(significant=True),)),
     "children[0].restart", "significant"),
    (SupervisorSpec(children=(child(significant=1),)), "children[0].significant", "True or False"),
    (SupervisorSpec("simple_one_for_one"), "children", "exactly one"),
    (SupervisorSpec("simple_one_for_one", children=(child(), child("x"))), "children", "template"),
    ("nope", "spec", "SupervisorSpec"),
])
def test_validate_names_the_field(spec, field, allowed):
    with pytest.raises(SpecError) as info:
        validate(spec)
    assert info.value.field == field
    assert allowed in info.value.allowed
    assert str(info.value).startswith(f"{field}: ")


def test_significant_child_ok_with_auto_shutdown():
    spec = SupervisorSpec(auto_shutdown="all_significant",
                          children=(child(significant=True, restart="temporary"),))
    assert validate(spec) is spec


def test_supervisor_child_spec():
    inner = SupervisorSpec(children=(child(),))
    spec = SupervisorSpec(children=(ChildSpec("inner", Start(Supervisor, Configure(inner)),
                                              type="supervisor", shutdown="infinity"),))
    assert validate(spec) is spec

"""The one validator names the bad field and what is allowed."""

from __future__ import annotations

import pickle

import pytest

from supervisors import ChildSpec, Configure, SpecError, Start, Supervisor, SupervisorSpec, check_childspecs
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


def test_shutdown_defaults_by_type():
    """As OTP: a worker waits 5 s, a supervisor as long as its own children take."""
    assert child().shutdown == 5.0
    assert ChildSpec("s", Start(Supervisor), type="supervisor").shutdown == "infinity"
    assert ChildSpec("s", Start(Supervisor), type="supervisor", shutdown=3).shutdown == 3
    assert validate(SupervisorSpec(children=(child(shutdown=0),))).children[0].shutdown == 0


def test_actor_class_must_be_an_actor():
    with pytest.raises(SpecError) as info:
        validate(SupervisorSpec(children=(ChildSpec("w", Start(int)),)))
    assert info.value.field == "children[0].start.actor_class"


@pytest.mark.parametrize("auto", ["any_significant", "all_significant"])
def test_sup_flags_bad_combination_simple_one_for_one(auto):
    spec = SupervisorSpec("simple_one_for_one", auto_shutdown=auto,
                          children=(child(significant=True, restart="temporary"),))
    with pytest.raises(SpecError) as info:
        validate(spec)
    assert info.value.field == "auto_shutdown" and "bad_combination" in info.value.allowed


def test_child_specs():
    """check_childspecs validates a whole list, as a supervisor would (OTP child_specs)."""
    assert check_childspecs([child("a"), child("b", restart="transient")]) is None
    assert check_childspecs((child(significant=True, restart="transient"),), "any_significant") is None
    for specs, auto, field in [
        ([child("a"), child("a")], "never", "children[1].id"),
        ([child("a"), "b"], "never", "children[1]"),
        ([child(shutdown=-1)], "never", "children[0].shutdown"),
        ([child(significant=True, restart="transient")], "never", "children[0].significant"),
        ([child(significant=True)], "any_significant", "children[0].restart"),
        (child(), "never", "children"),
        ([child()], "sometimes", "auto_shutdown"),
    ]:
        with pytest.raises(SpecError) as info:
            check_childspecs(specs, auto)
        assert info.value.field == field, specs

"""A node that dies (SIGKILL) or freezes (SIGSTOP) loses its shards; the others carry its runs on."""

from __future__ import annotations

import signal

from aion_actors import events as ev
from stores.leases import shard_of
from tests.waiting import wait_for


def _on(cluster, node_id: str, count: int, prefix: str) -> list[str]:
    """`count` workflow ids whose shards `node_id` owns now."""
    owners = cluster.owners()
    ids = [f"{prefix}-{i}" for i in range(2000)]
    mine = [w for w in ids if owners.get(shard_of(w, 64)) == node_id][:count]
    assert len(mine) == count
    return mine


def _balanced(cluster, nodes: set[str]) -> None:
    wait_for(lambda: set(cluster.owners().values()) == nodes and len(cluster.owners()) == 64, timeout=60,
             what=f"shards spread over {sorted(nodes)}")


def test_a_killed_node_s_runs_resume_on_the_survivor(cluster):
    # Leases of 30 s: a takes b's shards well before they could lapse, so it saw b's process gone.
    cluster.start_node("a", lease_ttl=30)
    cluster.start_node("b", lease_ttl=30)
    _balanced(cluster, {"a", "b"})
    doomed = _on(cluster, "b", 4, "kill")
    for workflow_id in doomed:
        assert cluster.aion("start", "steps", "--input", "8", "--id", workflow_id).returncode == 0
    wait_for(lambda: len(cluster.executions()) >= 6, timeout=60, what="some steps run on b")
    cluster.kill("b")
    wait_for(lambda: set(cluster.owners().values()) == {"a"}, timeout=20, what="a owning every shard")
    assert cluster.wait_closed(doomed, timeout=120) == {w: "completed" for w in doomed}
    cluster.assert_clean(doomed)
    # Only an attempt the kill interrupted may have run twice.
    again = [k for k, c in cluster.executions().items() if c > 1]
    assert len(again) <= len(doomed), again


def test_a_signal_sent_through_any_node_reaches_a_workflow_on_another(cluster):
    cluster.start_node("a")
    cluster.start_node("b")
    _balanced(cluster, {"a", "b"})
    on_b = _on(cluster, "b", 1, "counter")[0]
    assert cluster.aion("start", "inbox_counter", "--input", "3", "--id", on_b).returncode == 0
    # From the CLI (the inbox), from a run on a's shards (signal_external) and from a client Engine on a's node.
    assert cluster.aion("signal", on_b, "add", "--payload", '"cli"').returncode == 0
    pinger = _on(cluster, "a", 1, "pinger")[0]
    assert cluster.aion("start", "pinger", "--input", f'"{on_b}"', "--id", pinger).returncode == 0
    assert cluster.wait_closed([pinger]) == {pinger: "completed"}
    assert cluster.aion("signal", on_b, "add", "--payload", '"last"').returncode == 0
    assert cluster.wait_closed([on_b]) == {on_b: "completed"}
    signals = [e.event for e in cluster.history(on_b) if isinstance(e.event, ev.SignalReceived)]
    assert sorted(s.key.split(":")[0] if s.key.startswith("request") else "run" for s in signals) == [
        "request", "request", "run"]


def test_children_on_other_shards_start_there_and_report_back(cluster):
    cluster.start_node("a")
    cluster.start_node("b")
    _balanced(cluster, {"a", "b"})
    assert cluster.aion("start", "parent", "--input", "6", "--id", "family").returncode == 0
    assert cluster.wait_closed(["family"], timeout=120) == {"family": "completed"}
    children = [e.event.child_workflow_id for e in cluster.history("family")
                if isinstance(e.event, ev.ChildWorkflowStarted)]
    owners = cluster.owners()
    assert {owners[shard_of(c, 64)] for c in children} == {"a", "b"}  # the children were spread over both
    completed = [e.event for e in cluster.history("family") if isinstance(e.event, ev.WorkflowCompleted)]
    assert len(completed) == 1


def test_a_frozen_node_is_fenced_out_and_its_histories_stay_clean(cluster):
    cluster.start_node("a")
    cluster.start_node("b")
    _balanced(cluster, {"a", "b"})
    ids = _on(cluster, "b", 3, "frozen")
    for workflow_id in ids:
        assert cluster.aion("start", "steps", "--input", "40", "--id", workflow_id).returncode == 0
    wait_for(lambda: len(cluster.executions()) >= 3, timeout=60, what="b running steps")
    frozen = cluster.freeze("b")
    try:
        # Alive to the OS, so only the lease timeout frees its shards (2 s in these tests).
        wait_for(lambda: "b" not in set(cluster.owners().values()), timeout=30, what="a taking b's shards")
        # A run started seconds before the others (each `aion start` is a process) may have
        # finished by now, on b before it froze or already on a: only open runs can progress.
        taken = {w: len(cluster.history(w)) for w in ids if cluster.store.get_summary(w).closed_at is None}
        assert taken, "every run ended before b's shards were taken: nothing left to fence"
        wait_for(lambda: all(len(cluster.history(w)) > n for w, n in taken.items()), timeout=60,
                 what="the runs progressing on a while b is frozen")
    finally:
        frozen.send_signal(signal.SIGCONT)
    assert cluster.wait_closed(ids, timeout=120) == {w: "completed" for w in ids}
    cluster.assert_clean(ids)
    # b woke up, found its leases lapsed, dropped its runs and rejoined: the cluster spreads over both again.
    _balanced(cluster, {"a", "b"})

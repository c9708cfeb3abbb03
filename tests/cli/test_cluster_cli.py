"""`aion cluster up` supervising real processes, and `aion cluster status` reading a real store.

The supervision tests run the real `aion cluster up` command in a process of
its own, with the node command swapped for a stand-in (`python -c ...`): the
one seam `aion_actors.cluster.local.worker_command` is replaced, so what is
tested is the supervisor, the death watch, the stop and the reports, not an
engine's start-up time.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aion_actors.cli import main
from aion_actors.cluster import local
from stores.url import open_store
from tests.cli.conftest import REPO, SHOP
from tests.waiting import wait_for

# Runs `aion ARGS...` with every node replaced by `python -c CODE NODE_ID`.
STANDIN = """
import sys
from aion_actors.cluster import local
from aion_actors.cli import main
from aion_actors.cluster import local
code = sys.argv[1]
local.worker_command = lambda sources, store, ttl: (lambda node_id: [sys.executable, "-c", code, node_id])
main(sys.argv[2:], prog_name="aion")
"""
SLEEPER = "import time; time.sleep(120)"
# node-2 cannot start: it says why on stderr and exits at once; the others run.
NODE_2_BROKEN = ("import sys, time\n"
                 "if sys.argv[1] == 'node-2':\n"
                 "    print('cannot open the store: disk on fire', file=sys.stderr); sys.exit(3)\n"
                 "time.sleep(120)")


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Cluster:
    """One `aion cluster up --json` process with stand-in nodes; its JSON lines read as they come."""

    def __init__(self, tmp_path: Path, code: str, nodes: int = 3) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", STANDIN, code, "cluster", "up", SHOP, "--nodes", str(nodes), "--json",
             "--store", f"sqlite:///{tmp_path}/aion.db", "--log-dir", str(tmp_path / "logs")],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # a process group of its own, as a terminal's foreground job has
        self.lines: queue.Queue = queue.Queue()
        self.pids: dict[str, int] = {}  # node -> its latest pid
        self.all_pids: set[int] = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next_line(self, timeout: float = 30) -> dict | None:
        return self.lines.get(timeout=timeout)

    def wait_started(self, node: str | None = None, timeout: float = 30) -> dict:
        """The next "started" line (of `node`, when given), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            assert line is not None, f"aion cluster up ended: {self.proc.stderr.read()}"
            if line["event"] == "started":
                self.pids[line["node"]] = line["pid"]
                self.all_pids.add(line["pid"])
                if node is None or line["node"] == node:
                    return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pid in self.all_pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def clusters(tmp_path):
    made: list[Cluster] = []

    def make(code: str = SLEEPER, nodes: int = 3) -> Cluster:
        made.append(Cluster(tmp_path, code, nodes))
        return made[-1]
    yield make
    for cluster in made:
        cluster.kill()


def test_a_sigkilled_node_runs_again_within_a_second_with_its_node_id(clusters):
    cluster = clusters()
    assert cluster.next_line()["event"] == "up"
    for _ in range(3):
        cluster.wait_started()
    assert sorted(cluster.pids) == ["node-1", "node-2", "node-3"]
    first = dict(cluster.pids)

    os.kill(first["node-2"], signal.SIGKILL)
    killed_at = time.monotonic()
    died = cluster.next_line(5)
    restarted = cluster.wait_started("node-2", timeout=5)
    took = time.monotonic() - killed_at

    assert died == {"event": "died", "node": "node-2", "pid": first["node-2"], "returncode": -signal.SIGKILL}
    assert restarted["restarts"] == 1 and restarted["pid"] != first["node-2"]
    assert running(restarted["pid"])
    assert took < 1.0, f"node-2 was running again only {took:.2f}s after its SIGKILL"
    assert all(running(first[node]) for node in ("node-1", "node-3"))  # one_for_one: the others untouched


def test_sigterm_stops_every_node_and_exits_0(clusters):
    cluster = clusters()
    for _ in range(3):
        cluster.wait_started()
    os.kill(cluster.pids["node-1"], signal.SIGKILL)  # a restarted node is stopped too
    cluster.wait_started("node-1")

    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(60) == 0, cluster.proc.stderr.read()
    lines = []
    while (line := cluster.next_line()) is not None:
        lines.append(line)
    stopped = {line["node"]: line["pid"] for line in lines if line["event"] == "stopped"}
    assert stopped == cluster.pids
    assert [pid for pid in cluster.all_pids if running(pid)] == []


def test_ctrl_c_in_a_terminal_stops_the_cluster_without_restarting_a_node(clusters):
    cluster = clusters(nodes=2)
    for _ in range(2):
        cluster.wait_started()
    os.killpg(cluster.proc.pid, signal.SIGINT)  # a terminal sends it to the whole foreground group
    assert cluster.proc.wait(60) == 0, cluster.proc.stderr.read()
    lines = []
    while (line := cluster.next_line()) is not None:
        lines.append(line)
    assert sorted(line["event"] for line in lines) == ["stopped", "stopped"]
    assert [pid for pid in cluster.all_pids if running(pid)] == []


def test_nodes_die_with_a_sigkilled_cluster_up(clusters):
    cluster = clusters()
    for _ in range(3):
        cluster.wait_started()
    cluster.proc.kill()
    cluster.proc.wait()
    wait_for(lambda: not any(running(pid) for pid in cluster.all_pids), "every node gone with its parent",
             timeout=5, detail=lambda: [pid for pid in cluster.all_pids if running(pid)])


def test_a_node_that_keeps_dying_stops_the_cluster_with_its_last_output(clusters, tmp_path):
    cluster = clusters(NODE_2_BROKEN)
    assert cluster.proc.wait(60) == 1
    err = cluster.proc.stderr.read()  # stdout is the reader thread's
    assert "node node-2 kept dying" in err
    assert "cannot open the store: disk on fire" in err
    assert str(tmp_path / "logs" / "node-2.log") in err
    lines = []
    while (line := cluster.next_line()) is not None:
        lines.append(line)
    for line in lines:
        if line["event"] == "started":
            cluster.all_pids.add(line["pid"])
    assert sum(1 for line in lines if line["event"] == "died" and line["node"] == "node-2") > 10
    assert lines[-1]["event"] == "failed" and lines[-1]["node"] == "node-2"
    assert lines[-1]["tail"] == ["cannot open the store: disk on fire"]
    assert {line["node"] for line in lines if line["event"] == "stopped"} == {"node-1", "node-3"}
    assert [pid for pid in cluster.all_pids if running(pid)] == []


def test_local_cluster_from_python_reports_each_node_and_cleans_up_its_logs():
    supervised = local.LocalCluster(["a", "b"], lambda node_id: [sys.executable, "-c", SLEEPER, node_id],
                                    stop_grace=5)
    with supervised:
        started = [supervised.next_event(30), supervised.next_event(30)]
        assert sorted((e.node_id, e.start) for e in started) == [("a", 0), ("b", 0)]
        assert all(running(e.pid) for e in started)
    assert supervised.stopped == local.ClusterStopped("shutdown")
    exits = []
    while not isinstance(event := supervised.next_event(5), local.ClusterStopped):
        exits.append(event)
    assert sorted((e.node_id, e.expected, e.returncode) for e in exits) == [("a", True, -signal.SIGTERM),
                                                                             ("b", True, -signal.SIGTERM)]
    assert not any(running(e.pid) for e in started)
    assert not os.path.exists(supervised.log_dir)  # a clean stop leaves nothing behind


def test_nodes_deaf_to_sigterm_are_killed_after_one_shared_grace(tmp_path):
    deaf = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('deaf', flush=True); time.sleep(120)")
    supervised = local.LocalCluster(["a", "b", "c"], lambda node_id: [sys.executable, "-c", deaf],
                                    stop_grace=1.0, log_dir=str(tmp_path))
    with supervised:
        pids = [supervised.next_event(30).pid for _ in range(3)]
        wait_for(lambda: all("deaf" in Path(supervised.log_path(n)).read_text() for n in "abc"),
                 "every node ignoring SIGTERM")
        asked = time.monotonic()
    took = time.monotonic() - asked
    exits = []
    while not isinstance(event := supervised.next_event(5), local.ClusterStopped):
        exits.append(event)
    assert sorted(e.returncode for e in exits) == [-signal.SIGKILL] * 3
    assert not any(running(pid) for pid in pids)
    assert took < 2.5, f"stopping took {took:.1f}s: the 1 s grace ran once per node, not once for all"


# -- aion cluster status ----------------------------------------------------------------------

def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/aion.db"


def test_status_lists_nodes_their_shards_and_the_unowned_ones(url):
    store = open_store(url, shards=8)
    try:
        store.heartbeat("node-a", {"host": "alpha", "pid": 101, "resident": 12, "load": 0.5,
                                   "capabilities": ["gpu", "eu"]})
        store.heartbeat("node-b", {"host": "beta", "pid": 202})
        for shard in (0, 1, 2):
            assert store.acquire(shard, "node-a", 60) is not None
        assert store.acquire(5, "node-b", 60) is not None
    finally:
        store.close()

    shown = invoke("cluster", "status", "--store", url, "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["shards"] == 8 and data["unowned_shards"] == [3, 4, 6, 7]
    rows = {row["node_id"]: row for row in data["nodes"]}
    assert rows["node-a"]["host"] == "alpha" and rows["node-a"]["pid"] == 101
    assert (rows["node-a"]["shards"], rows["node-a"]["resident"], rows["node-a"]["load"]) == (3, 12, 0.5)
    assert (rows["node-b"]["shards"], rows["node-b"]["resident"], rows["node-b"]["load"]) == (1, None, None)
    assert rows["node-a"]["live"] and 0 <= rows["node-a"]["heartbeat_age"] < 60
    assert (rows["node-a"]["capabilities"], rows["node-b"]["capabilities"]) == (["gpu", "eu"], [])

    table = invoke("cluster", "status", "--store", url)
    assert table.exit_code == 0, table.output
    a_row = next(line for line in table.output.splitlines() if "node-a" in line)
    assert all(word in a_row for word in ("alpha", "101", "live", "3", "12", "0.5", "gpu, eu"))
    b_row = next(line for line in table.output.splitlines() if "node-b" in line)
    assert "beta" in b_row and "202" in b_row and "-" in b_row
    assert "unowned shards: 4 of 8 (3-4, 6-7)" in table.output


def test_status_tells_a_silent_node_from_a_live_one(url, tmp_path):
    store = open_store(url)
    try:
        store.heartbeat("node-old", {"host": "h", "pid": 1})
        wait_for(lambda: store.nodes(1.0)[0].age.total_seconds() > 1.0, "the heartbeat to age past 1 s",
                 every=0.1)
        store.heartbeat("node-new", {"host": "h", "pid": 2})
    finally:
        store.close()
    data = json.loads(invoke("cluster", "status", "--store", url, "--json", "--lease-ttl", "1").output)
    assert {row["node_id"]: row["live"] for row in data["nodes"]} == {"node-new": True, "node-old": False}
    assert len(data["unowned_shards"]) == 64


def test_status_of_a_store_without_nodes_says_how_to_start_some(url):
    open_store(url).close()
    shown = invoke("cluster", "status", "--store", url)
    assert shown.exit_code == 0, shown.output
    assert "no nodes" in shown.output and "aion cluster up --nodes 3" in shown.output
    assert json.loads(invoke("cluster", "status", "--store", url, "--json").output)["nodes"] == []


def test_status_of_a_missing_store_says_so(tmp_path):
    shown = invoke("cluster", "status", "--store", f"sqlite:///{tmp_path}/nope.db")
    assert shown.exit_code == 1
    assert "does not exist" in shown.output


@pytest.mark.parametrize("command", [("cluster",), ("cluster", "up"), ("cluster", "status"), ("worker",)])
def test_help_shows_examples(command):
    shown = invoke(*command, "--help")
    assert shown.exit_code == 0
    assert "Example:" in shown.output and "aion " in shown.output


def test_up_refuses_a_file_without_workflows(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    shown = invoke("cluster", "up", str(empty), "--store", f"sqlite:///{tmp_path}/aion.db")
    assert shown.exit_code == 1
    assert "defines no workflow" in shown.output


# -- with real `aion worker` nodes --------------------------------------------------------------

def test_worker_nodes_share_the_shards_and_come_back_after_sigkill(tmp_path):
    url = f"sqlite:///{tmp_path}/aion.db"
    open_store(url).close()  # so that `status` can read it before the nodes have opened it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
    up = subprocess.Popen([sys.executable, "-m", "aion_actors.cli", "cluster", "up", SHOP, "--nodes", "2",
                           "--lease-ttl", "2", "--store", url, "--json"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [json.loads(up.stdout.readline()) for _ in range(3)]
        pids = {line["node"]: line["pid"] for line in lines if line["event"] == "started"}
        assert sorted(pids) == ["node-1", "node-2"]

        def status() -> dict:
            return json.loads(invoke("cluster", "status", "--store", url, "--json", "--lease-ttl", "2").output)

        def shared() -> bool:
            data = status()
            owned = {row["node_id"]: row["shards"] for row in data["nodes"] if row["live"]}
            return set(owned) == {"node-1", "node-2"} and sum(owned.values()) == data["shards"] and all(
                owned.values())
        wait_for(shared, "both nodes owning shards", timeout=60, every=0.2, detail=status)
        rows = {row["node_id"]: row for row in status()["nodes"]}
        assert rows["node-1"]["pid"] == pids["node-1"]

        os.kill(pids["node-2"], signal.SIGKILL)
        assert json.loads(up.stdout.readline())["event"] == "died"
        again = json.loads(up.stdout.readline())
        assert again["node"] == "node-2" and again["restarts"] == 1
        wait_for(lambda: shared() and {r["node_id"]: r["pid"] for r in status()["nodes"]}["node-2"] == again["pid"],
                 "node-2 back with its shards", timeout=60, every=0.2, detail=status)

        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0, up.stderr.read()
        assert not running(pids["node-1"]) and not running(again["pid"])
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_the_local_cluster_example_kills_a_node_and_every_trip_completes(tmp_path):
    example = Path(REPO) / "examples" / "09_local_cluster.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, str(example)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kill -9 node-2" in done.stdout and "node-2 running again as pid" in done.stdout
    assert "all 20 completed" in done.stdout
    assert "aion cluster up exited with code 0" in done.stdout

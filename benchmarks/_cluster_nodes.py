"""Real `aion worker` node processes for `benchmarks/cluster.py`: start, wait for their shards, CPU, stop.

Every process started here is remembered in `Nodes` and stopped by `Nodes.close`
(SIGCONT, SIGTERM, then SIGKILL after a grace), which `cluster.py` calls in a
`finally`, so Ctrl-C leaves nothing running. Nodes also die with this process
(`PR_SET_PDEATHSIG`), in case it is itself SIGKILLed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = str(Path(__file__).resolve().parents[1])
APP = str(Path(__file__).with_name("_cluster_app.py"))
TICKS = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def store_url(backend: str, postgres: str | None) -> Iterator[str]:
    """A fresh store: a SQLite file in a temporary folder, or a throwaway PostgreSQL database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="aion-bench-cluster-") as folder:
            yield f"sqlite:///{folder}/aion.db"
    else:
        from benchmarks.store_fencing import fresh_postgres

        with fresh_postgres(postgres) as url:
            yield url


class Nodes:
    """The worker nodes of one store, plus a store handle to read leases and histories."""

    def __init__(self, url: str, log_dir: str) -> None:
        from stores.url import open_store

        self.url = url
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.store = open_store(url)  # creates the schema before any node races to
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}

    def start(self, node_id: str, lease_ttl: float = 10.0) -> subprocess.Popen:
        """An `aion worker` node serving the bench app, returned once it printed its banner."""
        log_path = os.path.join(self.log_dir, f"{node_id}.log")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "aion_actors.cli", "worker", APP, "--store", self.url,
                                     "--node-id", node_id, "--lease-ttl", f"{lease_ttl:g}"],
                                    env=self.env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                    text=True, process_group=0, preexec_fn=_die_with_parent)
        self.procs[node_id] = proc
        line = proc.stdout.readline()
        if not line.startswith("aion worker: serving"):
            raise SystemExit(f"node {node_id} did not start: {line!r}; its output: {open(log_path).read()[-2000:]}")
        return proc

    def owners(self) -> dict[int, str]:
        return {lease.shard: lease.owner for lease in self.store.leases() if lease.live and lease.owner}

    def wait_spread(self, node_ids: list[str], timeout: float = 120) -> dict[int, str]:
        """Wait until every shard is owned and each of `node_ids` owns its share (±1 of even)."""
        deadline = time.monotonic() + timeout
        while True:
            owners = self.owners()
            counts = [list(owners.values()).count(n) for n in node_ids]
            fair = len(self.store.leases()) // len(node_ids)
            if len(owners) == len(self.store.leases()) and set(owners.values()) == set(node_ids) \
                    and min(counts) >= fair - 1:
                return owners
            if time.monotonic() > deadline:
                raise SystemExit(f"shards not spread over {node_ids} within {timeout}s: {counts}")
            time.sleep(0.1)

    def signal(self, node_id: str, sig: int) -> None:
        self.procs[node_id].send_signal(sig)

    def stop(self, node_id: str, grace: float = 20.0) -> None:
        proc = self.procs.pop(node_id)
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def close(self) -> None:
        for node_id in list(self.procs):
            if self.procs[node_id].poll() is None:
                self.procs[node_id].send_signal(signal.SIGCONT)
                self.procs[node_id].send_signal(signal.SIGTERM)
        for node_id in list(self.procs):
            self.stop(node_id)
        self.store.close()


@contextlib.contextmanager
def cluster(url: str) -> Iterator[Nodes]:
    with tempfile.TemporaryDirectory(prefix="aion-bench-cluster-logs-") as logs:
        nodes = Nodes(url, logs)
        try:
            yield nodes
        finally:
            nodes.close()

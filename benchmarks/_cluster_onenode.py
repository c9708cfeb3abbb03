"""One plain in-process Engine on a fresh SQLite file: hello workflows/s, printed as one number.

Run as a script with PYTHONPATH pointing at the checkout of `aion_actors` to measure
(`benchmarks/cluster.py` runs it against this one and the commit before the cluster
work, alternating). It imports nothing else from the benchmarks.

    PYTHONPATH=CHECKOUT python benchmarks/_cluster_onenode.py [--workflows 500] [--threads 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import aion_actors as aion
from _cluster_app import ACTIVITIES, WORKFLOWS, hello


def hello_rate(engine: aion.Engine, workflows: int, threads: int, latencies: list | None = None) -> float:
    """Start `workflows` hellos from `threads` threads, await every result: workflows per second.

    `latencies`, when given, gets (seconds in `start`, seconds in `result`) of each workflow.
    """
    def one(i: int) -> str:
        began = time.perf_counter()
        handle = engine.start(hello, f"w{i}", id=f"h-{i}")
        started = time.perf_counter()
        result = handle.result(timeout=300)
        if latencies is not None:
            latencies.append((started - began, time.perf_counter() - started))
        return result

    with ThreadPoolExecutor(threads) as pool:
        began = time.perf_counter()
        results = list(pool.map(one, range(workflows)))
        elapsed = time.perf_counter() - began
    assert results == [f"Hello, w{i}!" for i in range(workflows)], results[:3]
    return workflows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aion-onenode-") as folder:
        with aion.Engine(f"sqlite:///{folder}/aion.db", workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
            print(f"{hello_rate(engine, args.workflows, args.threads):.3f} {aion.__file__}", flush=True)


if __name__ == "__main__":
    main()

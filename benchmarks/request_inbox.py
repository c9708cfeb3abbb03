"""Round trip of a command through the store's request inbox, as `aion signal/query` make it.

An engine serves requests (`Engine(serve_requests=True)`, polling every
50 ms); the client is `aion_actors.inbox.call` on a second store object
over the same SQLite file, as the CLI does in its own process (process
start-up, ≈1 s of imports, is not included). For each of `--samples`
requests: put, wait for the answer, time it. `query` asks a live run's
handler; `signal` records a SignalReceived first.

    python benchmarks/request_inbox.py [--samples 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from aion_actors import inbox, workflow  # noqa: E402
from benchmarks._table import print_table  # noqa: E402
from stores.url import open_store  # noqa: E402


@workflow.defn
async def listener() -> None:
    seen = {"n": 0}
    workflow.set_query_handler("seen", lambda: seen["n"])
    while True:
        seen["n"] = await workflow.receive("ping")


def one_run(samples: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/aion.db"
        timings: dict[str, list[float]] = {"query (ms)": [], "signal (ms)": []}
        with aion.Engine(store=url, workflows=[listener], serve_requests=True) as engine:
            engine.start(listener, id="l-1")
            with open_store(url) as client:
                for k in range(samples):
                    for kind, body in (("query", {"name": "seen", "args": []}), ("signal", {"name": "ping",
                                                                                          "payload": k})):
                        began = time.perf_counter()
                        inbox.call(client, kind, "l-1", body, timeout=10)
                        timings[f"{kind} (ms)"].append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    merged: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for metric, values in one_run(args.samples).items():
            merged.setdefault(metric, []).extend(values)
    print_table([("sqlite", metric, values, 1) for metric, values in merged.items()], first="store")


if __name__ == "__main__":
    main()

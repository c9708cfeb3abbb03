"""Thespian messages one hello workflow costs on the in-process runtime, by message type.

The hello workflow of examples/01_hello.py (start -> one activity -> result)
is run `--workflows` times, one after another, on a fresh SQLite file; every
send of Thespian's simple base (actor to actor, and the driver's `tell`s) is
counted by message type while they run, then divided by the number of
workflows. Engine start-up and recovery are not counted. Housekeeping ticks
fall where they fall, so their share varies a little run to run.

    python benchmarks/messages.py [--workflows 100]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from throughput import greet, hello  # noqa: E402  (the same hello workflow the throughput figures use)


class SendCounter:
    """Counts every send of the simple base while installed: actor sends and the driver's tells."""

    def __init__(self) -> None:
        self.by_type: collections.Counter = collections.Counter()
        self.counting = False

    def install(self) -> None:
        from thespian.system import simpleSystemBase as ssb

        base = ssb.ActorSystemBase
        counter = self
        orig_send, orig_tell = base.actor_send, base.tell

        def actor_send(self, fromActor, toActor, msg):
            if counter.counting:
                counter.by_type[type(msg).__name__] += 1
            return orig_send(self, fromActor, toActor, msg)

        def tell(self, anActor, msg):
            if counter.counting:
                counter.by_type["(driver tell) " + type(msg).__name__] += 1
            return orig_tell(self, anActor, msg)

        base.actor_send, base.tell = actor_send, tell


def measure(workflows: int) -> collections.Counter:
    counter = SendCounter()
    counter.install()
    with tempfile.TemporaryDirectory() as tmp:
        with aion.Engine(store=f"sqlite:///{tmp}/messages.db", workflows=[hello],
                         activities=[greet]) as engine:
            engine.start(hello, "warm-up").result(timeout=30)  # type supervisor created outside the count
            counter.counting = True
            for i in range(workflows):
                assert engine.start(hello, f"w{i}").result(timeout=30) == f"Hello, w{i}!"
            counter.counting = False
    return counter.by_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=100)
    args = parser.parse_args()
    by_type = measure(args.workflows)
    rows = [(name, count / args.workflows) for name, count in by_type.most_common()]
    rows.append(("total", sum(by_type.values()) / args.workflows))
    width = max(len(name) for name, _ in rows)
    print(f"Thespian messages per hello workflow ({args.workflows} workflows, in process, one at a time)\n")
    print(f"| {'message type'.ljust(width)} | per workflow |")
    print(f"| {'-' * width} | ------------ |")
    for name, per in rows:
        print(f"| {name.ljust(width)} | {per:12.2f} |")


if __name__ == "__main__":
    main()

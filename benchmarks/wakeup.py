"""Wake-up round trips: poke → wait → poke back → wait, between two threads and two processes.

A `Waker` (`aion_actors.cluster.wakeup`) is the cluster's fast path: the
writer of a request or an answer pokes the reader, which then reads the
store. This times the hint alone (plain loopback datagrams and HMAC-proven
ones), then the durable path it speeds up: a request put in a SQLite
store's inbox, claimed and answered by a server in another process, each
side poking the other instead of polling — answered at once (the store's
share of a cross-node call), or performed by an Engine as a signal to a
live run (the whole call, with the wiring the request server and the inbox
client are to get) — and for comparison the first with both sides polling
every 50 ms (200 rounds at most). Also what a client's
short-lived Waker costs to open and close. Process start-up is excluded.

    python benchmarks/wakeup.py [--rounds 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from aion_actors import workflow  # noqa: E402
from aion_actors.cluster.wakeup import Waker  # noqa: E402
from benchmarks._table import print_table  # noqa: E402

SECRET = "benchmark secret, 32 bytes long!"
WARMUP = 100


def echo(waker: Waker, peer: str) -> None:
    """Poke `peer` back for every wake-up, until the Waker is closed."""
    while waker.wait(None):
        waker.poke(peer)


def ping(waker: Waker, peer: str, rounds: int) -> list[float]:
    timings = []
    for k in range(WARMUP + rounds):
        began = time.perf_counter()
        waker.poke(peer)
        if not waker.wait(10):
            raise SystemExit(f"no answer to poke {k} within 10 s")
        if k >= WARMUP:
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def threads(rounds: int, secret: str | None) -> list[float]:
    with Waker(secret=secret) as mine, Waker(secret=secret) as theirs:
        other = threading.Thread(target=echo, args=(theirs, mine.address), daemon=True)
        other.start()
        try:
            return ping(mine, theirs.address, rounds)
        finally:
            theirs.close()
            other.join()


def child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)


def processes(rounds: int, secret: str | None) -> list[float]:
    with Waker(secret=secret) as mine:
        other = child("--echo", mine.address, *(["--secret", secret] if secret else []))
        try:
            return ping(mine, other.stdout.readline().strip(), rounds)
        finally:
            other.terminate()
            other.wait()


@contextlib.contextmanager
def store_url(postgres: str | None) -> Iterator[str]:
    """A fresh store: a SQLite file, or a throwaway database on the `postgres` server."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/aion.db"
    else:
        from benchmarks.store_fencing import fresh_postgres

        with fresh_postgres(postgres) as url:
            yield url


def inbox(rounds: int, mode: str, postgres: str | None = None) -> list[float]:
    """Client here, server in a child process, one store: put + poke → claim, answer + poke → read.

    `mode` "store": the server answers at once (the store's and the wake-ups' share of a call).
    "engine": the server is an Engine that performs the request (a signal to a live run), wired
    as the request server will be. "polled": as "store" with nobody poking; both sides look
    every 50 ms, as the inbox does without wake-ups.
    """
    from aion_actors import inbox as wire
    from stores.url import open_store

    with store_url(postgres) as url, Waker() as mine:
        with open_store(url) as store:
            server = child("--serve", url, "--mode", mode)
            try:
                address = server.stdout.readline().strip()
                timings, warmup = [], 10 if mode == "polled" else WARMUP
                for k in range(warmup + rounds):
                    began = time.perf_counter()
                    body = wire.encode_body({"name": "ping", "payload": k, "reply_to": mine.address})
                    request_id = store.put_request("signal", "l-1", body)
                    if mode != "polled":
                        mine.poke(address)
                    while True:
                        request = store.get_request(request_id)
                        if request is not None and request.answered:
                            wire.outcome(request)
                            break
                        mine.wait(0.05)
                    if k >= warmup:
                        timings.append((time.perf_counter() - began) * 1000)
                return timings
            finally:
                server.terminate()
                server.wait()


@workflow.defn
async def listener() -> None:
    while True:
        await workflow.receive("ping")


def serve(url: str, mode: str) -> None:
    """The server side of `inbox`: claim on a wake-up (or every 50 ms), answer, poke the client."""
    from aion_actors import inbox as wire
    from aion_actors.request_server import HANDLERS
    from stores.url import open_store

    engine = None
    if mode == "engine":
        engine = aion.Engine(url, workflows=[listener], serve_requests=False).open()
        engine.start(listener, id="l-1")
    with open_store(url) as store, Waker() as mine:
        print(mine.address, flush=True)
        while True:
            mine.wait(0.05)
            for request in store.claim_requests("bench", 16):
                body = wire.decode_body(request.body)
                reply = None if engine is None else HANDLERS[request.kind](engine, request, body)
                store.answer_request(request.id, wire.encode_reply(reply), None)
                if mode != "polled":
                    mine.poke(body["reply_to"])


def open_close(rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        Waker().close()
        timings.append((time.perf_counter() - began) * 1e6)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("AION_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL for the inbox rows on PostgreSQL too "
                             "(default: $AION_TEST_POSTGRES_URL)")
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        with Waker(secret=args.secret) as mine:
            print(mine.address, flush=True)
            echo(mine, args.echo)
        return
    if args.serve:
        serve(args.serve, args.mode)
        return
    cases = [("threads", "plain", lambda: threads(args.rounds, None)),
             ("threads", "proven", lambda: threads(args.rounds, SECRET)),
             ("processes", "plain", lambda: processes(args.rounds, None)),
             ("processes", "proven", lambda: processes(args.rounds, SECRET)),
             ("processes", "inbox (SQLite)", lambda: inbox(args.rounds, "store")),
             ("processes", "signal to an engine via the inbox", lambda: inbox(args.rounds, "engine")),
             ("processes", "inbox polled, no wake-ups", lambda: inbox(min(args.rounds, 200), "polled"))]
    if args.postgres:
        cases += [("processes", "inbox (PostgreSQL)", lambda: inbox(args.rounds, "store", args.postgres)),
                  ("processes", "signal to an engine via the inbox (PostgreSQL)",
                   lambda: inbox(args.rounds, "engine", args.postgres))]
    rows = []
    for between, kind, run in cases:
        p50s, p99s = [], []
        for _ in range(args.runs):
            timings = sorted(run())
            p50s.append(statistics.median(timings))
            p99s.append(timings[int(len(timings) * 0.99) - 1])
        rows += [(between, f"{kind} round trip p50 (ms)", p50s, 3), (between, f"{kind} round trip p99 (ms)", p99s, 3)]
    opens = [statistics.median(open_close(args.rounds)) for _ in range(args.runs)]
    rows.append(("client", "Waker() + close() (µs)", opens, 1))
    print(f"{args.rounds} rounds per run, {args.runs} runs; round trip = poke, the peer wakes and pokes back, "
          f"the poker wakes")
    print_table(rows, first="between")


if __name__ == "__main__":
    main()

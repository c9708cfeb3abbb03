"""The `aion` command line: a thin layer over the public API and the store.

Commands that change a live workflow run in a process that does not serve
it, so they go through the store's request inbox to the engine that does
(`aion worker`, `aion run`, or `Engine(serve_requests=True)`); read-only
commands read the store directly. `run()` is the console entry point.
"""

from __future__ import annotations

import click

import stores.errors

from ..errors import AionError, NoWorkerAnswered
from .commands_cluster import cluster
from .commands_control import cancel, pause, query, resume, signal, start, terminate
from .commands_inspect import describe, history, list_, result
from .commands_queues import queues
from .commands_replay import replay
from .commands_serve import run as run_command
from .commands_serve import worker
from .commands_watch import watch
from .options import ERROR, INTERRUPTED, NO_ANSWER, Exit


class _Group(click.Group):
    """Turns the errors a user can cause into one `aion: ...` line and a documented exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NoWorkerAnswered as exc:
            raise Exit(NO_ANSWER, str(exc)) from None
        except (AionError, stores.errors.StoreError) as exc:
            raise Exit(ERROR, str(exc)) from None
        except KeyboardInterrupt:
            raise Exit(INTERRUPTED, "interrupted") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Aion: durable workflows. Run, command and inspect workflows recorded in a store.

    Every command takes --store URL (default sqlite:///aion.db, or the
    AION_STORE variable) and --json. `aion worker FILE` (or `aion run FILE`)
    serves the workflows; start, signal, query, cancel, terminate, pause and resume
    reach it through the store; list, describe, history, result, watch,
    replay and queues only read the store.

    \b
    Exit codes:
      0    success
      1    error (unknown id, bad input, a diverged replay, ...)
      2    usage mistake (unknown option, missing argument)
      3    the workflow ended failed, cancelled or timed out (result, run)
      4    no worker answered in time; or the workflow has not finished (result)
      130  interrupted (Ctrl-C); `aion run` leaves its run durable

    \b
    Example:
      aion worker app.py &
      aion start order --input '{"id": 1}' --id order-1
      aion watch order-1
      aion cluster up --nodes 3 app.py      # several nodes on one store
      aion queues                           # task queues: waiting, running, limits
    """


for command in (run_command, worker, start, signal, query, cancel, terminate, pause, resume, result, list_, describe,
                history, watch, replay, cluster, queues):
    main.add_command(command)


def run() -> None:
    """Console entry point (`aion`)."""
    main(prog_name="aion")

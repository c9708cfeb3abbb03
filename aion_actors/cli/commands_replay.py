"""`aion replay`: replay stored histories against the current code; a gate to run before deploying."""

from __future__ import annotations

from typing import Any

import click

from stores.base import WorkflowFilter

from .. import events as ev
from ..errors import AionError, InvalidArgument, NonDeterminismError
from ..replayer import replay as replay_history
from . import render
from .load import load
from .options import ERROR, Exit, common, dumps, existing_store


def _runs(history: list[ev.HistoryEvent]) -> list[list[ev.HistoryEvent]]:
    """The history cut after each run: `replay` replays the last run of what it is given."""
    ends = [i for i, e in enumerate(history) if isinstance(e.event, ev.WorkflowStarted)][1:] + [len(history)]
    return [history[:end] for end in ends]


def check(history: list[ev.HistoryEvent], workflows: dict[str, Any], activities: list[Any]) -> dict[str, Any]:
    """Replay every run of one workflow; the verdict as a dict (`status`: ok, diverged, skipped, error)."""
    workflow_id, workflow_type = history[0].workflow_id, history[0].event.workflow_type
    verdict: dict[str, Any] = {"workflow_id": workflow_id, "workflow_type": workflow_type}
    fn = workflows.get(workflow_type)
    if fn is None:
        return {**verdict, "status": "skipped", "message": f"the app defines no workflow {workflow_type!r}"}
    runs = _runs(history)
    for n, run in enumerate(runs, start=1):
        try:
            replay_history(run, fn, activities=activities)
        except NonDeterminismError as exc:
            return {**verdict, "status": "diverged", "run": n, "message": str(exc)}
        except AionError as exc:
            return {**verdict, "status": "error", "run": n, "message": f"{type(exc).__name__}: {exc}"}
    return {**verdict, "status": "ok", "runs": len(runs), "events": len(history)}


@click.command(short_help="Check stored histories against new code.")
@common
@click.argument("workflow_ids", nargs=-1, metavar="[ID]...")
@click.option("--app", "sources", multiple=True, required=True, metavar="FILE_OR_MODULE",
              help="The current workflow code (repeat for several files).")
@click.option("--all", "everything", is_flag=True, help="Every stored workflow (see --type).")
@click.option("--type", "workflow_type", metavar="TYPE", help="With --all: only this workflow type.")
def replay(store: str, as_json: bool, workflow_ids: tuple[str, ...], sources: tuple[str, ...], everything: bool,
           workflow_type: str | None) -> None:
    """Replay stored histories with the current code; exit 1 if any diverged.

    Every run of each workflow is replayed: a `NonDeterminismError` means the
    code changed in a way those histories cannot follow (guard the change
    with workflow.patched()). Workflows of types the app does not define are
    skipped.

    \b
    Example:
      aion replay --all --app app.py
      aion replay order-1 order-2 --app app.py
    """
    if bool(workflow_ids) == everything:
        raise click.UsageError("give workflow IDs or --all (not both)")
    if workflow_type is not None and not everything:
        raise click.UsageError("--type goes with --all")
    app = load(list(sources))
    workflows = dict(zip(app.workflow_names(), app.workflows))
    verdicts = []
    with existing_store(store) as s:
        ids = list(workflow_ids) or [w.workflow_id for w in s.query(WorkflowFilter(workflow_type=workflow_type))]
        for workflow_id in ids:
            history = [ev.from_stored(e) for e in s.read_history(workflow_id)]
            if not history:
                verdicts.append({"workflow_id": workflow_id, "status": "error",
                                 "message": f"workflow {workflow_id!r} not found"})
                continue
            if not isinstance(history[0].event, ev.WorkflowStarted):
                raise InvalidArgument(f"the history of {workflow_id!r} does not start with WorkflowStarted")
            verdicts.append(check(history, workflows, list(app.activities)))
    bad = [v for v in verdicts if v["status"] in ("diverged", "error")]
    if as_json:
        click.echo(dumps(verdicts))
    else:
        out = render.console()
        style = {"ok": "green", "diverged": "bold red", "error": "red", "skipped": "yellow"}
        for v in verdicts:
            detail = v.get("message") or f"{v['runs']} run(s), {v['events']} events"
            out.print(f"[{style[v['status']]}]{v['status']:>8}[/]  {render.escape(v['workflow_id'])}"
                      f"{' (' + v['workflow_type'] + ')' if 'workflow_type' in v else ''}: {render.escape(detail)}")
        out.print(f"{len(verdicts)} replayed: {sum(v['status'] == 'ok' for v in verdicts)} ok, "
                  f"{len(bad)} failed, {sum(v['status'] == 'skipped' for v in verdicts)} skipped")
    if bad:
        raise Exit(ERROR)

"""10 — A task queue: 20 GPU jobs, two worker processes, at most two jobs at once, one worker killed.

Workflows orchestrate; activities do the heavy work, and the heavy work may
belong on other machines. An activity declared with `task_queue="gpu"` does
not run in the process that owns its workflow: each attempt becomes a task
in the store, and only engines serving "gpu" claim it:

    aion worker app.py --task-queue gpu --no-shards --concurrency 2

`--no-shards` makes a worker-only process (it owns no workflow);
`--concurrency 2` is a limit of the whole cluster, kept in the store: two
jobs at once however many workers serve the queue (a GPU box with two
cards). A worker renews its claims while it runs them; one killed with
SIGKILL loses its claims when its death is seen (at once on this machine,
after `--task-lease` seconds elsewhere), and the interrupted job is retried
per its `RetryPolicy` on another worker, from its last heartbeat.

This script is both the app and the walkthrough:

1. starts one `aion worker` that owns the workflows but does not serve "gpu";
2. starts two GPU workers (`--task-queue gpu --no-shards --concurrency 2`);
3. starts `render_batch`, which fans out 20 `render` jobs on "gpu";
4. kills the first GPU worker with SIGKILL while it renders;
5. waits for the batch, then shows where each job ran and that no more than
   two ever ran at once (from the jobs' own log of start and end times);
6. stops the processes with SIGTERM.

    python examples/10_gpu_queue.py
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aion_actors as aion
from aion_actors import activity, workflow
from stores.url import open_store

STORE = "sqlite:///aion.db"
JOBS_LOG = Path("jobs.log").resolve()  # one JSON line per frame rendered and per job attempt finished
JOBS, FRAMES_PER_JOB = 20, 5


@activity.defn(task_queue="gpu")
def render(job: int) -> int:
    """Render FRAMES_PER_JOB frames, heartbeating after each so a retry resumes where this stopped."""
    info = activity.info()
    done = info.heartbeat_details or 0
    began = time.time()
    for frame in range(done, FRAMES_PER_JOB):
        time.sleep(0.06)  # the frame itself
        activity.heartbeat(frame + 1)
        _log({"frame": frame + 1, "job": job, "pid": os.getpid()})
    _log({"job": job, "attempt": info.attempt, "pid": os.getpid(), "resumed_from": done, "start": began,
          "end": time.time()})
    return os.getpid()


def _log(line: dict) -> None:
    with open(os.environ.get("GPU_JOBS_LOG", JOBS_LOG), "a") as log:
        log.write(json.dumps(line) + "\n")


@workflow.defn
async def render_batch(jobs: int) -> list:
    return await workflow.all(
        workflow.execute_activity(render, job, start_to_close_timeout=60, heartbeat_timeout=5,
                                  retry=aion.RetryPolicy(max_attempts=5, initial_interval=0.1))
        for job in range(jobs))


def aion_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aion_actors.cli", *args, "--store", STORE]


def logged() -> list[dict]:
    if not JOBS_LOG.exists():
        return []
    return [json.loads(line) for line in JOBS_LOG.read_text().splitlines() if line]


def jobs_run() -> list[dict]:
    """The job attempts that finished."""
    return [x for x in logged() if "end" in x]


def mid_job(pid: int) -> bool:
    """Whether the process has rendered three frames of a job it has not finished."""
    lines = logged()
    finished = {x["job"] for x in lines if "end" in x and x["pid"] == pid}
    return any(x.get("frame", 0) >= 3 and x["pid"] == pid and x["job"] not in finished for x in lines)


def most_at_once(runs: list[dict]) -> int:
    """The most jobs running at one instant, swept over their start and end times."""
    edges = sorted([(r["start"], 1) for r in runs] + [(r["end"], -1) for r in runs], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def started(name: str, *args: str, env: dict) -> subprocess.Popen:
    """An `aion worker` that has printed its banner (it is serving)."""
    proc = subprocess.Popen(aion_cli("worker", __file__, *args), stdout=subprocess.PIPE, text=True, env=env)
    banner = proc.stdout.readline()
    if not banner.startswith("aion worker: serving"):
        raise SystemExit(f"{name} did not start (exit {proc.wait(30)}); see its message above")
    print(f"   {name}: pid {proc.pid}")
    return proc


def main() -> None:
    JOBS_LOG.unlink(missing_ok=True)
    open_store(STORE).close()  # create it before several processes open it
    env = {**os.environ, "GPU_JOBS_LOG": str(JOBS_LOG)}
    procs: dict[str, subprocess.Popen] = {}
    try:
        print("1. the owner: aion worker (owns the workflows, does not serve gpu)")
        procs["owner"] = started("owner", "--node-id", "owner", env=env)
        print("2. two GPU workers: aion worker --task-queue gpu --no-shards --concurrency 2")
        for name in ("gpu-1", "gpu-2"):
            procs[name] = started(name, "--node-id", name, "--task-queue", "gpu", "--no-shards",
                                  "--concurrency", "2", "--task-lease", "2", env=env)
        print(f"3. aion start render_batch --input {JOBS}")
        start = subprocess.run(aion_cli("start", "render_batch", "--input", str(JOBS), "--id", "batch-1"),
                               capture_output=True, text=True)
        if start.returncode != 0:
            raise SystemExit(start.stderr)
        victim = procs["gpu-1"]
        deadline = time.monotonic() + 60
        while not mid_job(victim.pid):
            if time.monotonic() > deadline:
                raise SystemExit("gpu-1 never got into a job")
            time.sleep(0.01)
        print(f"4. kill -9 gpu-1 (pid {victim.pid}) while it renders")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        print("5. waiting for the batch")
        result = subprocess.run(aion_cli("result", "batch-1", "--wait", "--timeout", "90"), capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        runs = jobs_run()
        names = {p.pid: name for name, p in procs.items()}
        for name in ("gpu-1", "gpu-2"):
            mine = sorted(r["job"] for r in runs if names.get(r["pid"]) == name)
            print(f"   {name} rendered jobs {mine}")
        retried = [r for r in runs if r["attempt"] > 1]
        for r in retried:
            print(f"   job {r['job']}: attempt {r['attempt']} on {names.get(r['pid'], '?')}, resumed from frame "
                  f"{r['resumed_from']} of {FRAMES_PER_JOB}")
        peak = most_at_once(runs)
        print(f"   {len(runs)} jobs finished, {len(set(r['job'] for r in runs))} distinct; at most {peak} at once")
        if sorted(set(r["job"] for r in runs)) != list(range(JOBS)) or peak > 2:
            raise SystemExit("the batch did not run as promised")
        print(subprocess.run(aion_cli("queues"), capture_output=True, text=True).stdout.rstrip())
    finally:
        print("6. stopping the workers (SIGTERM)")
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)


if __name__ == "__main__":
    main()

"""The README's two set-up commands work on a fresh copy of the repository, in a fresh virtualenv.

The commands are read from the README's first ```bash block (the first
screen a reader sees), not copied here, so the test follows the README.
They run with bash, as written, in a copy of the files git would commit
(tracked and untracked-but-not-ignored: `git ls-files --cached --others
--exclude-standard`), so no local virtualenv, database or cache leaks in.
Only the package registries are reached (pip installs the dependencies).

The second command runs the whole suite, which the main CI run has just
done; here it is restricted through `PYTEST_ADDOPTS` (read by pytest, so
the command itself is run unchanged) to a few tests that prove what only a
fresh install can: the `dev` extra is installed, the test suite starts, an
example runs, and the pytest plugin is found through its entry point.
Slow (two virtualenvs, two installs): `pytest -m slow tests/test_readme.py`,
which `.ci/run` runs after the main suite.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_SCREEN = 40  # lines


def setup_commands() -> list[str]:
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:FIRST_SCREEN])
    block = re.search(r"```bash\n(.*?)```", head, re.S)
    assert block, f"no ```bash block in the README's first {FIRST_SCREEN} lines"
    commands = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, commands
    return commands


def copy_repository(to: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():   # a tracked file deleted in the worktree is not copied
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)


def run(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    environment.pop("PYTEST_ADDOPTS", None)
    environment.pop("AION_TEST_POSTGRES_URL", None)
    environment.update(env)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_readme_set_up_commands_work_in_a_fresh_copy(tmp_path):
    hello, tests = setup_commands()
    assert "examples/01_hello.py" in hello and "pytest" in tests
    checkout = tmp_path / "aion"
    copy_repository(checkout)
    assert not (checkout / ".venv").exists()

    done = run(hello, checkout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Hello, world!" in done.stdout
    assert "WorkflowStarted" in done.stdout and "WorkflowCompleted" in done.stdout
    assert (checkout / "aion.db").exists()

    selected = "test_hello_prints or test_authoring_api_names or test_the_aion_env_fixture"
    done = run(tests, checkout, PYTEST_ADDOPTS=f"-k '{selected}'")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\b3 passed\b", summary), summary

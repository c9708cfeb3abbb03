"""`python -m aion_actors.cli`: the same as the `aion` command."""

from . import run

run()

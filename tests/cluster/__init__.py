"""Tests of the cluster policies (pure functions, no processes)."""

"""Cluster of engine nodes on one store: sharded ownership, placement, failover.

Nothing here is public yet; `placement` holds the policies (pure functions
over plain data) that the node actors and the store carry out, and `local`
runs N node processes on one machine under a supervisor (`aion cluster up`).
"""

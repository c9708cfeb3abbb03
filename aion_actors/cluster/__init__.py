"""A cluster of engine nodes on one store: sharded ownership with fencing, placement, failover, wake-ups.

The store is the only coordinator (no consensus protocol of our own), as in
Akka Cluster Sharding over a journal or Temporal's history shards:

- `placement`: who should own which shard, as pure functions of one view.
- `ownership`: the shards this node holds and their fencing tokens.
- `membership`: the node's rounds — heartbeat, renew, bury the dead, acquire, hand off.
- `liveness`: this process's identity, and whether a node of this machine is dead.
- `directory` and `wakeup` (+ `wakeup_proof`): whom to poke so a routed request is seen at once.
- `local`: N node processes on one machine under a supervisor (`aion cluster up`).

The engine's side of it lives in `runtime` (`shard_handover`, `routing`).
"""

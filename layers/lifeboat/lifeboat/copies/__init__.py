"""Copies of recovery points in other regions (docs/concepts/copies.md).

* :mod:`~lifeboat.copies.enqueue`: when a run's points complete, finalize queues one copy per
  point and destination (idempotent); the queue lives in the catalog and survives runs.
* :mod:`~lifeboat.copies.pump`: the copier state machine's one task, run every minute while
  work is left: it settles copies in flight, then starts queued ones while the destination's
  concurrent-copy limit allows, under a lease per destination (one copier per region at once).
* :mod:`~lifeboat.copies.prune`: copies are pruned in their region by their own retention,
  with prune's safety rules (write-ahead ``deleting``, never the last ``min_keep``, only what
  carries this copy's tags).
"""

"""The drill's port for Aurora clusters (the rest of a drill's AWS calls: ``DrillPort``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from lifeboat.errors import LifeboatError

if TYPE_CHECKING:
    from lifeboat.drill.cluster_plan import ClusterPlan


class ClusterDrillPort(Protocol):
    """RDS for an Aurora cluster's drill copy: only ``lifeboat-drill-…`` clusters carrying the
    drill's tag (``DrillPort.resources`` lists them, kind ``cluster``; ``DrillPort.status``
    reads them)."""

    def restore_cluster(self, plan: ClusterPlan, tags: dict[str, str]) -> dict[str, Any]:
        """RestoreDBClusterFromSnapshot, tagged at creation. When the identifier is taken, the
        cluster holding it, described like ``DrillPort.resources``' items, ``repeated`` true
        (the caller decides whose)."""
        ...

    def add_instance(self, plan: ClusterPlan, tags: dict[str, str]) -> str:
        """CreateDBInstance in the drill cluster, tagged at creation (a repeated call finds it
        made; an instance of that name that is not this drill's raises ``NotOwnedError``)."""
        ...

    def delete_cluster(self, cluster_id: str, execution_arn: str) -> str:
        """Delete the drill cluster's instances, then the cluster, without final snapshots:
        ``deleted``, ``gone``, ``not-owned``; raises ``DrillClusterBusyError`` while its
        instances are still being deleted (the task retries)."""
        ...


class DrillClusterBusyError(LifeboatError):
    """A drill cluster's instances are still being deleted: RDS deletes the cluster only once
    they are gone. The tear-down task retries on it (statemachines/drill.asl.json)."""

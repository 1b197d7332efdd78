"""An Aurora cluster's drill copy: launched, found again and deleted with the same ownership
rules as a drill database (its identifier is the one this drill derives, its tags are this
drill's, it is younger than the drill)."""

from __future__ import annotations

from typing import Any

from lifeboat.drill.cluster_plan import ClusterPlan
from lifeboat.drill.models import ForeignResourceError, drills_of
from lifeboat.drill.ports import ClusterDrillPort
from lifeboat.errors import InvalidInputError
from lifeboat.ports import Ports


def cluster_drills_of(ports: Ports) -> ClusterDrillPort:
    if ports.cluster_drills is None:
        raise InvalidInputError("ports", "no cluster drill adapter configured")
    return ports.cluster_drills


def launch_cluster(
    ports: Ports, source_id: str, plan: ClusterPlan, tags: dict[str, str], ours: Any
) -> str:
    """Restore the cluster and its instance; a cluster already holding the identifier is
    adopted only when ``ours(described)`` (this drill's own, from a retried task)."""
    clusters = cluster_drills_of(ports)
    found = clusters.restore_cluster(plan, tags)
    if found.get("repeated") and not ours(found):
        raise ForeignResourceError(
            "drill",
            f"{source_id}: {plan.new_identifier} already exists and this drill did not "
            "launch it (its tags or creation time say otherwise): left untouched",
        )
    clusters.add_instance(plan, tags)
    return plan.new_identifier


def delete_copy(ports: Ports, resource: dict[str, Any], execution_arn: str) -> str:
    """Delete one drill copy by its kind: ``terminated``/``deleted``, ``gone``, ``not-owned``."""
    if resource["kind"] == "cluster":
        return cluster_drills_of(ports).delete_cluster(resource["id"], execution_arn)
    drills = drills_of(ports)
    if resource["kind"] == "db":
        return drills.delete_db(resource["id"], execution_arn)
    return drills.terminate(resource["id"], execution_arn)

"""What RDS answers decides whose a snapshot in Lifeboat's way is, read by the adapters with
botocore's Stubber (no request leaves the process): a copy in the DR region (its source ARN
and its date, for DB and Aurora cluster snapshots), and, the same defect at home, a DB or
cluster snapshot named as tonight's backup with copied tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier
from lifeboat.aws.copy_ops import CopyOps
from lifeboat.aws.rds import RdsGateway
from lifeboat.copies.provenance import CopyTargetExistsError
from lifeboat.pacing import Pacer

pytestmark = pytest.mark.unit
INTENT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
SOURCE = "arn:aws:rds:eu-west-1:123456789012:snapshot:lifeboat-elearn-db-run"
CLUSTER_SOURCE = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-aurora-run"
TAGS = {T.MANAGED: "true", T.RUN: "run", T.COPY_POINT: "p@us-west-2"}


def _retrier() -> Retrier:
    return Retrier(sleep=lambda _s: None, pacer=Pacer(sleep=lambda _s: None))


def _rds(region: str) -> Any:
    return boto3.client("rds", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")


def _exists(stubber: Stubber, operation: str, code: str) -> None:
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_the_copy_adapter_reports_what_rds_says_of_the_snapshot_in_the_way(kind: str) -> None:
    rds = _rds("us-west-2")
    stubber = Stubber(rds)
    ops = CopyOps("us-west-2", _retrier(), ec2=object(), rds=rds)
    made = INTENT - timedelta(days=1)
    if kind == "cluster":
        _exists(stubber, "copy_db_cluster_snapshot", "DBClusterSnapshotAlreadyExistsFault")
        stubber.add_response(
            "describe_db_cluster_snapshots",
            {
                "DBClusterSnapshots": [
                    {
                        "DBClusterSnapshotIdentifier": "lifeboat-aurora-run",
                        "SourceDBClusterSnapshotArn": CLUSTER_SOURCE,
                        "SnapshotCreateTime": made,
                        "Status": "available",
                        "TagList": T.to_list(TAGS),
                    }
                ]
            },
        )
    else:
        _exists(stubber, "copy_db_snapshot", "DBSnapshotAlreadyExists")
        stubber.add_response(
            "describe_db_snapshots",
            {
                "DBSnapshots": [
                    {
                        "DBSnapshotIdentifier": "lifeboat-elearn-db-run",
                        "SourceDBSnapshotIdentifier": SOURCE,
                        "SnapshotCreateTime": made,
                        "Status": "available",
                        "TagList": T.to_list(TAGS),
                    }
                ]
            },
        )
    source = CLUSTER_SOURCE if kind == "cluster" else SOURCE
    target = "lifeboat-aurora-run" if kind == "cluster" else "lifeboat-elearn-db-run"
    with stubber, pytest.raises(CopyTargetExistsError) as raised:
        ops.copy_db_snapshot(kind, "eu-west-1", source, target, None, TAGS)
    found = raised.value.found
    assert found is not None and found.source_arn == source and found.status == "available"
    assert found.created_at is not None and found.created_at == made


def _home(snapshot: dict[str, Any], kind: str = "db") -> tuple[RdsGateway, Stubber]:
    rds = _rds("eu-west-1")
    stubber = Stubber(rds)
    if kind == "cluster":
        _exists(stubber, "create_db_cluster_snapshot", "DBClusterSnapshotAlreadyExistsFault")
        stubber.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": [snapshot]})
    else:
        _exists(stubber, "create_db_snapshot", "DBSnapshotAlreadyExists")
        stubber.add_response("describe_db_snapshots", {"DBSnapshots": [snapshot]})
    return RdsGateway(_retrier(), rds=rds), stubber


@pytest.mark.parametrize("kind", ["db", "cluster"])
@pytest.mark.parametrize(
    ("source", "taken", "ours"),
    [
        ("elearn-db", INTENT + timedelta(seconds=20), True),  # the task died after its call
        ("elearn-db", INTENT - timedelta(days=1), False),  # made before the run, tags copied
        ("other-db", INTENT + timedelta(seconds=20), False),  # another database's snapshot
    ],
)
def test_a_home_snapshot_in_tonights_place_is_this_runs_only_when_rds_says_so(
    kind: str, source: str, taken: datetime, ours: bool
) -> None:
    key = "DBClusterIdentifier" if kind == "cluster" else "DBInstanceIdentifier"
    name = "DBClusterSnapshotIdentifier" if kind == "cluster" else "DBSnapshotIdentifier"
    snapshot = {
        name: "lifeboat-elearn-db-run",
        key: source,
        "SnapshotCreateTime": taken,
        "Status": "available",
        "TagList": T.to_list({T.MANAGED: "true", T.RUN: "run"}),
    }
    gateway, stubber = _home(snapshot, kind)
    create = gateway.create_cluster_snapshot if kind == "cluster" else gateway.create_db_snapshot
    with stubber:
        if ours:
            assert create("elearn-db", "lifeboat-elearn-db-run", {T.RUN: "run"}, INTENT)
        else:
            with pytest.raises(RuntimeError, match="is not this run's"):
                create("elearn-db", "lifeboat-elearn-db-run", {T.RUN: "run"}, INTENT)

"""The evacuation adapters return typed models: Route 53 and SSM (moto in-process, no
sockets) and ARC zonal shift (moto has no ARC: botocore's Stubber, AWS's own shapes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lifeboat.apps.resources import DnsRecord
from lifeboat.aws.dns import EndpointGateway
from lifeboat.aws.evacuation_ops import SHIFT_EXPIRY, EvacuationOps

pytestmark = pytest.mark.unit
GROUP = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/web"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ROUTE53", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_route53_record_is_read_upserted_and_followed(aws: None) -> None:
    route53: Any = boto3.client("route53")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zone = route53.create_hosted_zone(
        Name="elearn.internal",
        CallerReference="x",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
    )["HostedZone"]["Id"].rsplit("/", 1)[-1]
    gateway = EndpointGateway(route53=route53, ssm=boto3.client("ssm", region_name="us-east-1"))
    assert gateway.zone_private(zone) is True
    assert gateway.zone_private("Z0000000000NOTHERE") is None
    public = route53.create_hosted_zone(Name="elearn.example", CallerReference="y")
    assert gateway.zone_private(public["HostedZone"]["Id"].rsplit("/", 1)[-1]) is False
    assert gateway.record(zone, "db.elearn.internal") is None
    record = DnsRecord(name="db.elearn.internal", type="CNAME", ttl=30, values=("a.example",))
    change = gateway.replace_record(zone, None, record, "test")
    assert change is not None and gateway.change_status(change) == "INSYNC"
    found = gateway.record(zone, "DB.elearn.internal.")
    assert found == DnsRecord(
        name="db.elearn.internal.", type="CNAME", ttl=30, values=("a.example",)
    )
    # Compare-and-set: replaced only while it is exactly as expected (one atomic batch).
    b = record.model_copy(update={"values": ("b.example",)})
    stale = record.model_copy(update={"values": ("someone-else.example",)})
    assert gateway.replace_record(zone, stale, b, "test") is None
    assert gateway.record(zone, "db.elearn.internal") == found
    assert gateway.replace_record(zone, found, b, "test") is not None
    assert gateway.record(zone, "db.elearn.internal").values == ("b.example",)  # type: ignore[union-attr]


def test_ssm_parameter_is_read_and_overwritten(aws: None) -> None:
    ssm: Any = boto3.client("ssm", region_name="us-east-1")
    gateway = EndpointGateway(route53=boto3.client("route53"), ssm=ssm)
    assert gateway.parameter("/elearn/db") is None
    ssm.put_parameter(Name="/elearn/db", Value="old", Type="String")
    assert gateway.put_parameter("/elearn/db", "new") == 2
    found = gateway.parameter("/elearn/db")
    assert found is not None and (found.value, found.version) == ("new", 2)


def test_zonal_shifts_are_started_listed_and_cancelled_with_arcs_shapes() -> None:
    arc: Any = boto3.client(
        "arc-zonal-shift",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    shift = {
        "zonalShiftId": "91ae6c2b-1ab2-4a3f-8d8e-0123456789ab",
        "resourceIdentifier": GROUP,
        "awayFrom": "use1-az1",
        "expiryTime": "2026-12-08T00:00:00Z",
        "startTime": "2026-12-05T00:00:00Z",
        "status": "ACTIVE",
        "comment": "Lifeboat evacuation e",
    }
    ops = EvacuationOps(arc=arc)
    with Stubber(arc) as stub:
        stub.add_response(
            "start_zonal_shift",
            shift,
            {
                "resourceIdentifier": GROUP,
                "awayFrom": "use1-az1",
                "expiresIn": SHIFT_EXPIRY,
                "comment": "Lifeboat evacuation e",
            },
        )
        stub.add_response(
            "list_zonal_shifts",
            {"items": [dict(shift)]},
            {"status": "ACTIVE", "resourceIdentifier": GROUP},
        )
        stub.add_response(
            "cancel_zonal_shift",
            {**shift, "status": "CANCELED"},
            {"zonalShiftId": shift["zonalShiftId"]},
        )
        stub.add_client_error(
            "cancel_zonal_shift", "ResourceNotFoundException", http_status_code=404
        )
        started = ops.start_zonal_shift(GROUP, "use1-az1", "Lifeboat evacuation e")
        assert (started.shift_id, started.away_from) == (shift["zonalShiftId"], "use1-az1")
        assert [s.shift_id for s in ops.zonal_shifts(GROUP)] == [shift["zonalShiftId"]]
        cancelled = ops.cancel_zonal_shift(started.shift_id)
        assert cancelled is not None and cancelled.status == "CANCELED"
        assert ops.cancel_zonal_shift(started.shift_id) is None
        stub.assert_no_pending_responses()


def test_the_emulator_applies_a_change_batch_as_route53_does(aws: None) -> None:
    from lifeboat.local.apps_gapfill import apps_gap_fills

    route53: Any = boto3.client("route53")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    with apps_gap_fills():
        zone = route53.create_hosted_zone(
            Name="elearn.internal",
            CallerReference="x",
            HostedZoneConfig={"PrivateZone": True},
            VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
        )["HostedZone"]["Id"].rsplit("/", 1)[-1]
        seeded = {"Name": "db.elearn.internal", "Type": "CNAME", "TTL": 60}
        route53.change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {**seeded, "ResourceRecords": [{"Value": "old"}]},
                    }
                ]
            },
        )
        gateway = EndpointGateway(route53=route53)
        old = gateway.record(zone, "db.elearn.internal")
        assert old is not None
        new = old.model_copy(update={"values": ("new",)})
        # Switched and switched back (DELETE then CREATE of one name in one batch).
        assert gateway.replace_record(zone, old, new, "switch") is not None
        assert gateway.replace_record(zone, new, old, "back") is not None
        assert gateway.record(zone, "db.elearn.internal") == old
        # A DELETE must give the record as it is now, not as it once was.
        assert gateway.replace_record(zone, new, old, "stale") is None
        assert gateway.record(zone, "db.elearn.internal") == old


def test_an_ssm_parameters_type_is_read(aws: None) -> None:
    ssm: Any = boto3.client("ssm", region_name="us-east-1")
    gateway = EndpointGateway(route53=boto3.client("route53"), ssm=ssm)
    ssm.put_parameter(Name="/elearn/secret", Value="x", Type="SecureString")
    found = gateway.parameter("/elearn/secret")
    assert found is not None and found.type == "SecureString"

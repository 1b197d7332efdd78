"""The Auto Scaling adapter returns groups as domain models (moto in-process, no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lifeboat import tags as T
from lifeboat.asg.membership import GROUP_TAG, group_of
from lifeboat.aws.autoscaling import AutoScalingGateway

pytestmark = pytest.mark.unit


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_AUTOSCALING"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=az)["Subnet"][
                "SubnetId"
            ]
            for i, az in enumerate(["us-east-1a", "us-east-1b"])
        ]
        template = ec2.create_launch_template(
            LaunchTemplateName="web",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling: Any = boto3.client("autoscaling", region_name="us-east-1")
        for name, plan in [("web", "standard"), ("batch", None)]:
            tags = [{"Key": "lifeboat:plan", "Value": plan, "PropagateAtLaunch": True}]
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
                MinSize=1,
                MaxSize=4,
                DesiredCapacity=2,
                VPCZoneIdentifier=",".join(subnets),
                Tags=tags if plan else [],
            )
        yield {"autoscaling": autoscaling, "subnets": subnets, "template": template}


def test_groups_are_domain_models(aws: dict[str, Any]) -> None:
    gateway = AutoScalingGateway(autoscaling=aws["autoscaling"])
    # When every group is read
    groups = {g.name: g for g in gateway.groups()}
    # Then the configuration a restore needs is there, typed
    web = groups["web"]
    assert (web.min_size, web.max_size, web.desired_capacity) == (1, 4, 2)
    assert set(web.subnet_ids) == set(aws["subnets"])
    assert web.launch_template is not None
    assert (web.launch_template.template_id, web.launch_template.version) == (aws["template"], "1")
    assert len(web.members) == 2
    assert sum(web.in_service_by_az().values()) == 2


def test_only_groups_tagged_with_the_plan(aws: dict[str, Any]) -> None:
    gateway = AutoScalingGateway(autoscaling=aws["autoscaling"])
    assert [g.name for g in gateway.groups_for_plan("standard")] == ["web"]
    assert gateway.groups_for_plan("other") == []
    assert [g.name for g in gateway.groups(["batch", "missing"])] == ["batch"]


def test_members_map_to_their_group(aws: dict[str, Any]) -> None:
    gateway = AutoScalingGateway(autoscaling=aws["autoscaling"])
    web = gateway.groups(["web"])[0]
    ids = [m.instance_id for m in web.members]
    assert gateway.group_names_of(ids) == dict.fromkeys(ids, "web")
    assert group_of({GROUP_TAG: "web"}) == "web"
    assert group_of({"Name": "web-1"}) is None


def test_template_versions_are_read_and_made_once(aws: dict[str, Any]) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    gateway = AutoScalingGateway(autoscaling=aws["autoscaling"], ec2=ec2)
    # A version as the domain model, "$Latest" resolved; a template that is gone is None
    current = gateway.template_version(aws["template"], "$Latest")
    assert current is not None and (current.version, current.image_id) == (1, "ami-12c6146b")
    assert gateway.template_version("lt-0123456789abcdef0", "1") is None
    # A new version, made once however often the call is repeated
    data = {**current.data, "ImageId": "ami-restored"}
    made = gateway.create_template_version(aws["template"], data, "lifeboat:restored-from=p", "t")
    again = gateway.create_template_version(aws["template"], data, "lifeboat:restored-from=p", "t")
    assert made.version == again.version == 2 and made.image_id == "ami-restored"
    # A template made by an execution is its own on a repeat; another's name is refused
    tags = {T.RESTORED_FROM: "p", T.RESTORE_EXECUTION: "arn:exec-1"}
    first = gateway.create_template("web-restored", data, "d", tags, "t1")
    assert gateway.create_template("web-restored", data, "d", tags, "t1") == first
    other = {**tags, T.RESTORE_EXECUTION: "arn:exec-2"}
    with pytest.raises(ClientError):
        gateway.create_template("web-restored", data, "d", other, "t2")


def test_a_group_is_pointed_at_a_version_refreshed_and_recreated(aws: dict[str, Any]) -> None:
    from lifeboat.asg.models import NewGroup
    from lifeboat.local.asg_gapfill import autoscaling_gap_fills

    ec2 = boto3.client("ec2", region_name="us-east-1")
    gateway = AutoScalingGateway(autoscaling=aws["autoscaling"], ec2=ec2)
    with autoscaling_gap_fills():
        version = gateway.create_template_version(
            aws["template"], {"ImageId": "ami-12c6146b"}, "v2", "t"
        )
        gateway.set_template_version("web", aws["template"], version.version)
        web = gateway.groups(["web"])[0]
        assert web.launch_template is not None and web.launch_template.version == "2"
        # A refresh started twice is the one refresh (in progress): then it succeeds
        refresh = gateway.start_refresh("web", [50, 100], 50)
        assert gateway.start_refresh("web", [50, 100], 50) == refresh
        for _ in range(3):
            (found,) = gateway.refreshes("web", [refresh])
        assert found.succeeded and found.percentage_complete == 100
        assert gateway.cancel_refresh("web") is False
        assert {m.launch_template_version for m in gateway.groups(["web"])[0].members} == {"2"}
        # A group recreated by an execution is its own on a repeat, never someone else's
        new = NewGroup(
            name="web-2",
            template_id=aws["template"],
            template_version=2,
            min_size=1,
            max_size=2,
            desired_capacity=1,
            subnet_ids=tuple(aws["subnets"]),
            tags={T.PLAN: "standard", T.RESTORE_EXECUTION: "arn:exec-1"},
        )
        made = gateway.create_group(new)
        assert gateway.create_group(new).name == made.name == "web-2"
        with pytest.raises(ClientError):
            gateway.create_group(new.model_copy(update={"tags": {T.PLAN: "standard"}}))

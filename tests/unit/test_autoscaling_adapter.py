"""The Auto Scaling adapter returns groups as domain models (moto in-process, no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

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

"""Seed eLearn's web tier as an Auto Scaling group in the emulator (beside the standalone web
servers of :func:`lifeboat.local.seed.seed_elearn`, so both paths show): a launch template and
a group of 2 across the two AZs' web subnets, tagged by the group (``lifeboat:plan``, ``app``,
``tier``: propagated to its members, as operators do)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lifeboat.aws.clients import client
from lifeboat.local.seed import Seeded

GROUP = "elearn-web"
TEMPLATE = "elearn-web"


@dataclass
class SeededGroup:
    name: str
    template_id: str
    subnets: list[str]
    members: list[str]


def seed_web_group(seeded: Seeded, plan: str = "standard", desired: int = 2) -> SeededGroup:
    ec2, autoscaling = client("ec2"), client("autoscaling")
    image_id = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["elearn-lamp-base"]}]
    )["Images"][0]["ImageId"]
    user_data = base64.b64encode(b"#!/bin/sh\nsystemctl start httpd\n").decode()
    template_id = ec2.create_launch_template(
        LaunchTemplateName=TEMPLATE,
        VersionDescription="eLearn web tier",
        LaunchTemplateData={
            "ImageId": image_id,
            "InstanceType": "t3.small",
            "KeyName": "elearn-ops",
            "SecurityGroupIds": [seeded.security_groups["web"]],
            "UserData": user_data,
            "MetadataOptions": {"HttpTokens": "required"},
        },
        TagSpecifications=[
            {"ResourceType": "launch-template", "Tags": [{"Key": "app", "Value": "elearn"}]}
        ],
    )["LaunchTemplate"]["LaunchTemplateId"]
    subnets = [seeded.subnets["web-a"], seeded.subnets["web-b"]]
    tags = {"lifeboat:plan": plan, "app": "elearn", "tier": "web", "Name": GROUP}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
        MinSize=desired,
        MaxSize=desired * 2,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        HealthCheckType="EC2",
        HealthCheckGracePeriod=60,
        Tags=[
            {
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": True,
                "ResourceId": GROUP,
                "ResourceType": "auto-scaling-group",
            }
            for k, v in tags.items()
        ],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    members = [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]
    return SeededGroup(GROUP, template_id, subnets, sorted(members))

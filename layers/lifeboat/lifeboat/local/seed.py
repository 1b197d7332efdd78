"""Seed an eLearn-like platform in the emulator: web and app servers in two AZs with root and
data volumes, an Elastic IP, a target group, an RDS database, and resources Lifeboat must not
touch (an untagged instance, an instance of another plan, an untagged database)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lifeboat.aws.clients import client

AZ_A, AZ_B = "us-east-1a", "us-east-1b"


@dataclass
class Seeded:
    vpc_id: str
    subnets: dict[str, str]
    protected_instances: dict[str, str]
    other_instances: dict[str, str]
    databases: list[str]
    other_databases: list[str]
    elastic_ip: dict[str, str]
    target_group_arn: str
    security_groups: dict[str, str] = field(default_factory=dict)
    dr: SeededDr | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tags(resource_type: str, **tags: str) -> list[dict[str, Any]]:
    return [
        {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    ]


def tier_subnets(ec2: Any, vpc_id: str, prefix: str, zones: tuple[str, str]) -> dict[str, str]:
    """The eLearn tiers' subnets (``web-a`` … ``db-b``, named by tier and AZ letter)."""
    subnets: dict[str, str] = {}
    for index, (tier, az) in enumerate((t, z) for t in ("web", "app", "db") for z in zones):
        name = f"{tier}-{az[-1]}"
        subnets[name] = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"{prefix}.{index}.0/24",
            AvailabilityZone=az,
            TagSpecifications=_tags("subnet", Name=name),
        )["Subnet"]["SubnetId"]
    return subnets


def seed_elearn(plan: str = "standard") -> Seeded:
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(
        CidrBlock="10.20.0.0/16", TagSpecifications=_tags("vpc", Name="elearn")
    )["Vpc"]["VpcId"]
    subnets = tier_subnets(ec2, vpc_id, "10.20", (AZ_A, AZ_B))
    groups = {
        tier: ec2.create_security_group(
            GroupName=f"elearn-{tier}", Description=f"eLearn {tier}", VpcId=vpc_id
        )["GroupId"]
        for tier in ("web", "app", "db")
    }
    image_id = ec2.register_image(
        Name="elearn-lamp-base",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}
        ],
        VirtualizationType="hvm",
        Architecture="x86_64",
    )["ImageId"]

    def launch(name: str, subnet: str, tier: str, **extra_tags: str) -> str:
        return str(
            ec2.run_instances(
                ImageId=image_id,
                InstanceType="t3.medium",
                MinCount=1,
                MaxCount=1,
                SubnetId=subnets[subnet],
                SecurityGroupIds=[groups[tier]],
                KeyName="elearn-ops",
                BlockDeviceMappings=[
                    {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}},
                    {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}},
                ],
                TagSpecifications=_tags(
                    "instance", Name=name, app="elearn", tier=tier, **extra_tags
                ),
            )["Instances"][0]["InstanceId"]
        )

    ec2.create_key_pair(KeyName="elearn-ops")
    protected = {
        "web-1": launch("web-1", "web-a", "web", **{"lifeboat:plan": plan}),
        "web-2": launch("web-2", "web-b", "web", **{"lifeboat:plan": plan}),
        "app-1": launch("app-1", "app-a", "app", **{"lifeboat:plan": plan}),
    }
    others = {
        "bastion (untagged)": launch("bastion", "web-a", "web"),
        "reporting (plan other)": launch("reporting", "app-b", "app", **{"lifeboat:plan": "other"}),
    }
    allocation = ec2.allocate_address(
        Domain="vpc", TagSpecifications=_tags("elastic-ip", Name="elearn-web")
    )
    ec2.associate_address(AllocationId=allocation["AllocationId"], InstanceId=protected["web-1"])

    elbv2 = client("elbv2")
    group_arn = elbv2.create_target_group(
        Name="elearn-web", Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=group_arn,
        Targets=[{"Id": protected["web-1"], "Port": 80}, {"Id": protected["web-2"], "Port": 80}],
    )

    rds = client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="elearn-db",
        DBSubnetGroupDescription="eLearn database",
        SubnetIds=[subnets["db-a"], subnets["db-b"]],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="elearn-db",
        DBInstanceClass="db.t3.medium",
        Engine="mysql",
        AllocatedStorage=50,
        MasterUsername="elearn",
        MasterUserPassword="not-a-real-password-1",
        DBSubnetGroupName="elearn-db",
        VpcSecurityGroupIds=[groups["db"]],
        AvailabilityZone=AZ_A,
        Tags=[{"Key": "lifeboat:plan", "Value": plan}, {"Key": "Name", "Value": "elearn-db"}],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="analytics-db",
        DBInstanceClass="db.t3.small",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="analytics",
        MasterUserPassword="not-a-real-password-2",
    )
    return Seeded(
        vpc_id=vpc_id,
        subnets=subnets,
        protected_instances=protected,
        other_instances=others,
        databases=["elearn-db"],
        other_databases=["analytics-db"],
        elastic_ip={
            "allocation_id": allocation["AllocationId"],
            "public_ip": allocation["PublicIp"],
        },
        target_group_arn=group_arn,
        security_groups=groups,
        dr=seed_dr_region(),
    )


def seed_drill_network(
    tiers: tuple[str, ...] = ("web", "app", "db"), subnet_group: str = "lifeboat-drill"
) -> dict[str, Any]:
    """A drill network apart from production: its own VPC (no peering, no route to the
    eLearn VPC), one subnet per tier in each AZ and one security group per tier (no ingress),
    each tagged ``lifeboat:drill-tier``, and the DB subnet group drills restore into."""
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(
        CidrBlock="10.99.0.0/16", TagSpecifications=_tags("vpc", Name="lifeboat-drill")
    )["Vpc"]["VpcId"]
    subnets: dict[str, str] = {}
    for index, (tier, az) in enumerate((t, z) for t in tiers for z in (AZ_A, AZ_B)):
        name = f"drill-{tier}-{az[-1]}"
        subnets[name] = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"10.99.{index}.0/24",
            AvailabilityZone=az,
            TagSpecifications=_tags("subnet", Name=name, **{"lifeboat:drill-tier": tier}),
        )["Subnet"]["SubnetId"]
    groups = {
        tier: ec2.create_security_group(
            GroupName=f"lifeboat-drill-{tier}",
            Description=f"Lifeboat drill {tier}",
            VpcId=vpc_id,
            TagSpecifications=_tags("security-group", **{"lifeboat:drill-tier": tier}),
        )["GroupId"]
        for tier in tiers
    }
    client("rds").create_db_subnet_group(
        DBSubnetGroupName=subnet_group,
        DBSubnetGroupDescription="Lifeboat drills",
        SubnetIds=[subnets["drill-db-a"], subnets["drill-db-b"]],
    )
    return {"vpc_id": vpc_id, "subnets": subnets, "security_groups": groups}


DR_REGION = "us-west-2"
DR_KEY_ALIAS = "alias/lifeboat-dr"


@dataclass
class SeededDr:
    region: str
    vpc_id: str
    subnets: dict[str, str]
    security_groups: dict[str, str]
    kms_key_arn: str


def seed_dr_region(region: str = DR_REGION) -> SeededDr:
    """The eLearn platform's disaster-recovery region: the key copies are encrypted with
    (``alias/lifeboat-dr``, as plans.yaml names it), and a VPC with the same tiers (subnets
    ``web-a``…``db-b`` in two AZs, security groups named as at home, the DB subnet group
    ``elearn-db``), where a region-loss restore lands. Nothing runs there."""
    kms = client("kms", region)
    alias = next(
        (a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == DR_KEY_ALIAS), None
    )  # the emulator's KMS outlives a fresh stack: the key is made once
    if alias is None:
        key_id = kms.create_key(Description="Lifeboat copies (DR)")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=DR_KEY_ALIAS, TargetKeyId=key_id)
    else:
        key_id = alias["TargetKeyId"]
    key = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    ec2 = client("ec2", region)
    vpc_id = ec2.create_vpc(
        CidrBlock="10.40.0.0/16", TagSpecifications=_tags("vpc", Name="elearn-dr")
    )["Vpc"]["VpcId"]
    subnets = tier_subnets(ec2, vpc_id, "10.40", (f"{region}a", f"{region}b"))
    groups = {
        tier: ec2.create_security_group(
            GroupName=f"elearn-{tier}", Description=f"eLearn {tier} (DR)", VpcId=vpc_id
        )["GroupId"]
        for tier in ("web", "app", "db")
    }
    client("rds", region).create_db_subnet_group(
        DBSubnetGroupName="elearn-db",
        DBSubnetGroupDescription="eLearn database (DR)",
        SubnetIds=[subnets["db-a"], subnets["db-b"]],
    )
    return SeededDr(region, vpc_id, subnets, groups, str(key["Arn"]))

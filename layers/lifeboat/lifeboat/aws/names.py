"""The resolver's reads (:class:`lifeboat.names.NamesPort`): instances by ``Name`` tag, and
whether a DB instance exists."""

from __future__ import annotations

import re

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.names import NamedInstance

DB_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
ANY_STATE = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]


class AwsNames:
    def __init__(self, ec2: Ec2Gateway | None = None, rds: RdsGateway | None = None) -> None:
        self.ec2 = ec2 or Ec2Gateway()
        self.rds = rds or RdsGateway()

    @needs("ec2:DescribeInstances")
    def instances_named(self, name: str) -> list[NamedInstance]:
        """Exactly ``name``: EC2's filters read ``*`` and ``?`` as wildcards, so the Name tags
        found are compared again here (``web-1*`` names no instance, not web-1)."""
        return [
            NamedInstance(
                instance_id=i["InstanceId"],
                state=i.get("State", {}).get("Name", "unknown"),
                availability_zone=i.get("Placement", {}).get("AvailabilityZone"),
                fenced=T.FENCED in T.to_dict(i.get("Tags")),
            )
            for i in self.ec2.instances_tagged("Name", name, ANY_STATE)
            if T.to_dict(i.get("Tags")).get("Name") == name
        ]

    @needs("rds:DescribeDBInstances")
    def database_exists(self, identifier: str) -> bool:
        """Whether a DB instance is so named (what cannot be a DB identifier names none: RDS
        would answer InvalidParameterValue)."""
        return (
            bool(DB_IDENTIFIER.match(identifier)) and self.rds.describe_db(identifier) is not None
        )

"""Where an application finds its database: a Route 53 record of a private hosted zone, or an
SSM parameter (README: plans' ``database_endpoint``). Typed models out, never response dicts;
IAM allows only the zones and parameters the plans declare."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat.apps.resources import DnsRecord, ParameterValue
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

SIMPLE_TYPES = ("CNAME", "A", "AAAA")


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def _record_set(record: DnsRecord) -> dict[str, Any]:
    return {
        "Name": _fqdn(record.name),
        "Type": record.type,
        "TTL": record.ttl,
        "ResourceRecords": [{"Value": v} for v in record.values],
    }


def _same(a: DnsRecord, b: DnsRecord) -> bool:
    return (a.type, a.ttl, sorted(a.values)) == (b.type, b.ttl, sorted(b.values))


class EndpointGateway:
    def __init__(
        self, retrier: Retrier | None = None, route53: Any = None, ssm: Any = None
    ) -> None:
        self._route53 = route53
        self._ssm = ssm
        self.retrier = retrier or Retrier()

    @property
    def route53(self) -> Any:  # made when first used: most tasks never call Route 53
        if self._route53 is None:
            self._route53 = client("route53")
        return self._route53

    @property
    def ssm(self) -> Any:
        if self._ssm is None:
            self._ssm = client("ssm")
        return self._ssm

    @needs("route53:GetHostedZone")
    def zone_private(self, zone_id: str) -> bool | None:
        try:
            zone = self.route53.get_hosted_zone(Id=zone_id)["HostedZone"]
        except ClientError as exc:
            if error_code(exc) in ("NoSuchHostedZone", "InvalidInput"):
                return None
            raise
        return bool(zone.get("Config", {}).get("PrivateZone", False))

    @needs("route53:ListResourceRecordSets")
    def record(self, zone_id: str, name: str) -> DnsRecord | None:
        wanted = _fqdn(name)
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id, StartRecordName=wanted
        )
        for page in pages:
            for item in page.get("ResourceRecordSets", []):
                if _fqdn(item["Name"]) != wanted:
                    return None  # sorted by name: past it
                if item["Type"] in SIMPLE_TYPES and "AliasTarget" not in item:
                    return DnsRecord(
                        name=wanted,
                        type=item["Type"],
                        ttl=int(item.get("TTL", 60)),
                        values=tuple(r["Value"] for r in item.get("ResourceRecords", [])),
                    )
        return None

    @needs("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets")
    def replace_record(
        self, zone_id: str, expected: DnsRecord | None, record: DnsRecord, comment: str
    ) -> str | None:
        """Compare-and-set in one change batch (Route 53 applies a batch atomically): DELETE
        exactly ``expected`` (its type, TTL and values must match, or the batch fails), then
        CREATE ``record`` (fails if a record exists where ``expected`` is None)."""
        changes: list[dict[str, Any]] = []
        if expected is not None:
            changes.append({"Action": "DELETE", "ResourceRecordSet": _record_set(expected)})
        changes.append({"Action": "CREATE", "ResourceRecordSet": _record_set(record)})
        try:
            response = self.retrier.call(
                self.route53.change_resource_record_sets,
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": comment[:256], "Changes": changes},
            )
        except ClientError as exc:
            # AWS: InvalidChangeBatch (moto: InvalidInput) when the record is not as expected.
            if error_code(exc) not in ("InvalidChangeBatch", "InvalidInput"):
                raise
            now = self.record(zone_id, record.name)
            if now is not None and expected is not None and _same(now, expected):
                raise  # as expected, yet refused: a real error, not a lost race
            if now is None and expected is None:
                raise
            return None
        return str(response["ChangeInfo"]["Id"])

    @needs("route53:GetChange")
    def change_status(self, change_id: str) -> str:
        return str(self.route53.get_change(Id=change_id)["ChangeInfo"]["Status"])

    @needs("ssm:GetParameter")
    def parameter(self, name: str) -> ParameterValue | None:
        try:
            found = self.ssm.get_parameter(Name=name)["Parameter"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None
            raise
        return ParameterValue(
            name=name,
            value=found["Value"],
            version=found.get("Version", 0),
            type=found.get("Type", "String"),
        )

    @needs("ssm:PutParameter")
    def put_parameter(self, name: str, value: str) -> int:
        # Overwrite keeps the parameter's type and tags; the version before is recorded by the
        # caller, so rollback restores the value (SSM keeps the history too).
        response = self.retrier.call(self.ssm.put_parameter, Name=name, Value=value, Overwrite=True)
        return int(response.get("Version", 0))

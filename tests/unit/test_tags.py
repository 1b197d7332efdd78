"""The ownership contract: what Lifeboat writes at creation, and subnet tiers."""

from __future__ import annotations

import pytest

from lifeboat import tags as T

pytestmark = pytest.mark.unit


def test_backup_tags_carry_the_contract_and_user_tags() -> None:
    tags = T.backup_tags(
        source_id="i-1",
        plan="standard",
        rule="daily",
        run_id="r1",
        kind="ami",
        source_tags={
            "Name": "web-1",
            "team": "elearn",
            "aws:cloudformation:stack-name": "x",
            "lifeboat:plan": "standard",
        },
    )
    assert tags[T.MANAGED] == "true" and tags[T.SOURCE] == "i-1" and tags[T.KIND] == "ami"
    assert tags[T.RULE] == "daily" and tags[T.RUN] == "r1" and tags[T.PLAN] == "standard"
    assert tags["Name"] == "web-1" and tags["team"] == "elearn"
    assert not any(k.startswith("aws:") for k in tags)


def test_backup_tags_never_exceed_the_aws_limit_and_keep_ours() -> None:
    many = {f"k{i}": "v" for i in range(80)}
    tags = T.backup_tags(
        source_id="i-1", plan="p", rule="r", run_id="x", kind="ebs", source_tags=many
    )
    assert len(tags) == T.MAX_TAGS and tags[T.MANAGED] == "true"


@pytest.mark.parametrize(
    ("tags", "az", "tier"),
    [
        ({"lifeboat:tier": "frontend", "Name": "whatever"}, "eu-west-1a", "frontend"),
        ({"Name": "web-a"}, "eu-west-1a", "web"),
        ({"Name": "web-1b"}, "eu-west-1b", "web"),
        ({"Name": "app-eu-west-1c"}, "eu-west-1c", "app"),
        ({"Name": "web-a"}, "eu-west-1b", None),
        ({"Name": "web"}, "eu-west-1a", None),
        ({}, "eu-west-1a", None),
    ],
)
def test_subnet_tier(tags: dict[str, str], az: str, tier: str | None) -> None:
    assert T.subnet_tier(tags, az) == tier

"""A bad plans file makes every command that loads the plans print one line naming the field
and the fix, and exit 2 (never a traceback, exit 1); ``copies list --region`` refuses what is
not a region."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lifeboat.cli import EXIT_INPUT, main
from lifeboat.models import RecoveryPoint
from lifeboat.plans import Kind

pytestmark = pytest.mark.unit

KEY = "arn:aws:kms:{}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def rule(**extra: object) -> dict[str, object]:
    return {
        "schedule": "cron(45 2 * * ? *)",
        "timezone": "Europe/London",
        "kinds": ["ebs"],
        "retention": {"daily": 7},
        **extra,
    }


BAD = {
    "compliance-without-acknowledgement": (
        rule(lock={"mode": "compliance", "days": 30}),
        "plans.standard.rules.daily.lock: compliance mode can never be shortened",
        "i_understand_compliance_mode: true",
    ),
    "copy-key-of-another-region": (
        rule(
            copy_to=[
                {
                    "region": "us-west-2",
                    "kms_key": KEY.format("eu-west-1"),
                    "retention": {"daily": 7},
                }
            ]
        ),
        "plans.standard.rules.daily.copy_to.0: kms_key is in eu-west-1, not us-west-2",
        "a key of its destination region",
    ),
}
# Every command that loads the plans (those that need a stack find one first: faked here).
COMMANDS = [
    ["backup", "start", "--plan", "standard", "--rule", "daily"],
    ["prune", "--plan", "standard", "--dry-run"],
    ["copies", "status"],
    ["copies", "start"],
    ["drill", "start", "--plan", "standard"],
    ["recovery-points", "list", "--resource", "i-0web1"],
    ["report"],
]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack whose outputs are known, and nothing that reaches AWS (a call would fail the
    test, not reach the network: the plans are loaded before)."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setattr(
        "lifeboat.cli.common.stack_outputs", lambda stack: {"CatalogTableName": "lifeboat-catalog"}
    )

    class NoCatalog:
        def __init__(self, table: str) -> None:
            self.table = table

        def points_for_resource(self, resource: str) -> list[object]:
            return []

    monkeypatch.setattr("lifeboat.cli.backup.Catalog", NoCatalog)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_plans_file_is_one_line_naming_the_field_and_the_fix_and_exit_2(
    command: list[str],
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stack: None,
) -> None:
    bad_rule, field, fix = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(
        yaml.safe_dump({"plans": {"standard": {"min_keep": 3, "rules": {"daily": bad_rule}}}})
    )
    monkeypatch.setenv("LIFEBOAT_PLANS_FILE", str(path))
    assert main(command) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert field in err and fix in err and str(path) in err


@pytest.mark.parametrize("region", ["us-west2", "uswest-2", "US-WEST-2", "us-west-2; rm"])
def test_copies_list_refuses_what_is_not_a_region(
    region: str, capsys: pytest.CaptureFixture[str], stack: None
) -> None:
    assert main(["copies", "list", "--resource", "i-0web1", "--region", region]) == EXIT_INPUT
    assert "--region" in capsys.readouterr().err


def test_recovery_points_list_shows_the_copies_marked_with_their_region(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stack: None
) -> None:
    from tests.worlds.copies import point

    home = point("i-0web1", Kind.AMI)
    copy = home.model_copy(
        update={
            "recovery_point_id": home.recovery_point_id + "@us-west-2",
            "region": "us-west-2",
            "copy_of": home.recovery_point_id,
            "image_id": "ami-0c0c0c0c",
        }
    )

    class Listed:
        def __init__(self, table: str) -> None:
            self.table = table

        def points_for_resource(self, resource: str) -> list[RecoveryPoint]:
            return [home]

        def copies_for_resource(self, resource: str, region: str) -> list[RecoveryPoint]:
            return [copy] if region == "us-west-2" else []

    monkeypatch.setattr("lifeboat.cli.backup.Catalog", Listed)
    monkeypatch.setattr("lifeboat.cli.backup.resource_option", lambda value, catalog: value)
    monkeypatch.setattr("lifeboat.cli.backup.lineage", lambda catalog, resource: [resource])
    monkeypatch.delenv("LIFEBOAT_PLANS_FILE", raising=False)
    assert main(["recovery-points", "list", "--resource", "i-0web1"]) == 0
    out = capsys.readouterr().out
    assert "completed, copy in us-west-2" in out and "ami-0c0c0c0c" in out
    assert "2 recovery point(s)" in out
    assert main(["recovery-points", "list", "--resource", "i-0web1", "--home-only"]) == 0
    out = capsys.readouterr().out
    assert "ami-0c0c0c0c" not in out and "1 recovery point(s)" in out

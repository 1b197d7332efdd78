"""The demo's consistency and volume-restore steps (lifeboat/local/demo_scripts.py) on the
emulator: every check they make passes, also when app-1 was replaced by an earlier restore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifeboat.aws.catalog import Catalog
from lifeboat.demo import Scene, Story
from lifeboat.local.demo_scripts import application_consistency_and_volume_restore
from lifeboat.restore.lineage import record_replacement

pytestmark = pytest.mark.integration


def _scene(stack: Any, seeded: Any) -> Scene:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    return Scene(Story(json_output=True), stack, seeded, catalog, datetime.now(UTC))


def test_the_demo_steps_pass(stack: Any, backed_up: Any) -> None:
    scene = _scene(stack, backed_up)
    application_consistency_and_volume_restore(scene)
    assert scene.story.checks and scene.story.ok, scene.story.checks
    assert scene.story.facts["consistent_backup"]["points"] == 3


def test_the_volume_step_follows_app_1_to_its_replacement(stack: Any, backed_up: Any) -> None:
    # Given app-1 stood in for by web-2 (as a restore records it; the volume layouts match)
    scene = _scene(stack, backed_up)
    app1 = backed_up.protected_instances["app-1"]
    web2 = backed_up.protected_instances["web-2"]
    record_replacement(scene.catalog, app1, web2, "arn:restore", datetime.now(UTC))
    application_consistency_and_volume_restore(scene)
    assert scene.story.ok, scene.story.checks
    assert scene.story.facts["volume_restore"]["instance"] == web2

"""Shared fixtures: sample events, a Lambda context, and the local emulator on loopback; and the
tiers, set by the folder a test lives in (docs/development/testing.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events import ROOT
from tests.tiers import TESTS, TIERS

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ["LIFEBOAT_ROOT"] = str(ROOT)


@pytest.fixture(autouse=True)
def _metrics_flushed_after_each_test() -> Iterator[None]:
    """Each test ends as a Lambda invocation does: Powertools' metric set emptied. Domain code
    called directly (not through a decorated handler) adds metrics that nothing flushes; left
    to pile up across a worker's tests, the 100th value of one makes Powertools serialize the
    set and fail (no namespace outside a function's environment), in whichever test adds it."""
    yield
    from lifeboat.observability import metrics

    metrics.clear_metrics()


@pytest.fixture
def lambda_context() -> Any:
    from lifeboat.local.bridge import LocalContext, LocalFunction

    return LocalContext(
        LocalFunction(
            name="test-function",
            code_dir=ROOT,
            handler="app.lambda_handler",
            arn="arn:aws:lambda:us-east-1:123456789012:function:test-function",
        )
    )


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from lifeboat.local.server import Emulator

    # botocore's retry back-off compressed too: tests inject throttles botocore retries.
    with Emulator(time_scale=0.0005, sdk_time_scale=0.001) as emu:
        yield emu


@pytest.fixture
def stack(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """This repository's stack, deployed once per session, in an otherwise empty account (each
    test starts with no instance, database, execution, catalog item or Lifeboat alarm). Tests
    that call domain code directly play the part of a function: the test's environment holds
    every function's variables (as deployed) and local mode's, until the test ends."""
    from lifeboat import runtime
    from lifeboat.local.bridge import BRIDGE

    deployed = emulator.fresh_stack(root=ROOT)
    for variables in [*deployed.environments.values(), BRIDGE.local_environment]:
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
    runtime.reset()
    return deployed


@pytest.fixture
def elearn(stack: Any) -> Any:
    from lifeboat.local.seed import seed_elearn

    return seed_elearn()


def _tier_of(item: pytest.Item) -> str:
    relative = Path(item.path).resolve().relative_to(TESTS)
    tier = TIERS.get(relative.parts[0]) if len(relative.parts) > 1 else None
    if tier is None:
        raise pytest.UsageError(
            f"{item.nodeid}: a test lives in a tier's folder: tests/{{{','.join(TIERS)}}}/"
        )
    return tier


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the tier of its folder. A test marked with another tier is an error
    naming the folder it belongs in; the one exception is a parameter marked with another tier
    (the same scenarios against a second backend), which takes that tier instead."""
    misplaced = []
    for item in items:
        tier = _tier_of(item)
        callspec = getattr(item, "callspec", None)
        by_parameter = {m.name for m in callspec.marks if m.name in TIERS} if callspec else set()
        if by_parameter:
            continue
        others = {m.name for m in item.iter_markers() if m.name in TIERS} - {tier}
        if others:
            misplaced.append(
                f"{item.nodeid} is marked {', '.join(sorted(others))} but lives in "
                f"tests/{tier}/: move it to tests/{sorted(others)[0]}/"
            )
        item.add_marker(tier)
    if misplaced:
        raise pytest.UsageError("\n".join(misplaced))

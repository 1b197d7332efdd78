"""The documentation site as a reader sees it: built with --strict, served on loopback and
rendered by headless Chromium; the runbook page shows its sections and its commands, and the
committed screenshots are real (docs/development/documentation.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import docs_site, phone

pytestmark = pytest.mark.browser
SHAPE = ["Symptom", "Decide", "Commands", "Verify", "Roll back", "What Lifeboat does not do"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(phone.CHROMIUM).exists():
        pytest.fail("no Chromium: run `make chromium` (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("site") / "site"
    docs_site.build(folder)
    with docs_site.serve(folder) as base:
        yield base


def test_the_runbook_page_renders_its_sections_and_commands(site: str) -> None:
    dom = docs_site.dom(f"{site}/runbooks/region-lost.html")
    assert "Runbook: a region is lost" in dom
    positions = [dom.find(f">{heading}") for heading in SHAPE]
    assert -1 not in positions and positions == sorted(positions), positions
    text = re.sub(r"<[^>]+>", "", dom)  # the code blocks' highlighting spans removed
    assert "lifeboat restore start --instance i-0abc… --region us-west-2 --dry-run" in text
    assert 'href="index.html"' in dom  # the runbooks index, in the nav


def test_a_screenshot_of_the_runbook_page_is_not_blank(site: str, tmp_path: Path) -> None:
    shot = tmp_path / "runbook.png"
    docs_site.screenshot(f"{site}/runbooks/region-lost.html", shot, 1280, 900)
    width, height, pixels = docs_site.png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 900)
    assert len(set(pixels)) > 40  # text, the header bar, code blocks: not one flat colour


@pytest.mark.parametrize("target", sorted(docs_site.SHOTS))
def test_the_committed_screenshots_are_the_pages_they_show(target: str) -> None:
    _, width, height = docs_site.SHOTS[target]
    shown, _, pixels = docs_site.png_pixels((docs_site.ROOT / target).read_bytes())
    assert shown == width
    assert len(set(pixels)) > 40
    page = (docs_site.ROOT / "docs/development/documentation.md").read_text(encoding="utf-8")
    assert f"../images/{Path(target).name}" in page

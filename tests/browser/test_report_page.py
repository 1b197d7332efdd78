"""The readiness report's HTML in a real browser: headless Chromium from Debian's ``chromium``
package (``make chromium`` installs it; nothing is downloaded at run time) loads the page of a
seeded fleet; the rendered DOM, the layout at phone widths (in a frame of the phone's width:
see :mod:`tests.browser.phone`) and a phone-sized screenshot are checked."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from html import unescape
from pathlib import Path

import pytest

from lifeboat.report import build_report, render_html
from tests.browser import phone
from tests.report_fleet import seed_fleet

pytestmark = pytest.mark.browser

# Test-only, appended to the framed copy of the page (the report itself has no script): once
# the page is laid out it writes into the wrapper page the frame's viewport width, the
# document's scroll width and every element that reaches past the viewport's edges or whose
# content is wider than its box (a table that scrolls sideways in an ``overflow-x:auto`` box
# leaves the document's own width alone: its last column is cut off at the box's edge).
MEASURE = """<script>
(function () {
  var width = document.documentElement.clientWidth, wide = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var box = el.getBoundingClientRect(), past = box.right > width + 0.5 || box.left < -0.5;
    var clipped = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
    if (box.width > 0 && (past || clipped)) {
      wide.push(el.tagName.toLowerCase() + "." + (el.getAttribute("class") || "") + " "
        + Math.round(box.left) + ".." + Math.round(box.right) + " content "
        + el.scrollWidth + " in " + el.clientWidth + ": "
        + (el.textContent || "").trim().slice(0, 40));
    }
  });
  var out = parent.document.createElement("pre");
  out.id = "layout";
  out.textContent = JSON.stringify({viewport: width, scroll_width:
    document.documentElement.scrollWidth, too_wide: wide});
  parent.document.body.appendChild(out);
})();
</script>"""


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(phone.CHROMIUM).exists():
        pytest.fail("no Chromium: run `make chromium` (apt-get install chromium)")
    return phone.chromium(*args, cwd=cwd)


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (filtered) scanlines of a PNG, with the stdlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    path = folder / "report.html"
    path.write_text(render_html(build_report(seed_fleet().inputs())), encoding="utf-8")
    return path


def test_the_rendered_page_says_what_matters(page: Path) -> None:
    dom = _chromium("--dump-dom", page.as_uri(), cwd=page.parent).stdout
    assert "Overall: RED" in dom
    assert "If us-east-1a failed" in dom and "If us-east-1b failed" in dom
    assert "bastion" in dom and "analytics-db" in dom and "standard/hourly" in dom
    assert "Aurora fails over to reader orders-aurora-2 in us-east-1b" in dom
    assert dom.count("<svg") == 7  # one timeline per protected resource


@pytest.mark.parametrize("width", [420, 360])
def test_nothing_is_wider_than_a_phone(page: Path, width: int) -> None:
    # Given the page in a frame as wide as a phone, with the test's measuring script
    wrapper = page.parent / f"phone-{width}.html"
    wrapper.write_text(phone.framed(page.read_text("utf-8"), width, 4000, MEASURE), "utf-8")
    # When Chromium lays it out
    dom = _chromium("--dump-dom", wrapper.as_uri(), cwd=page.parent).stdout
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    layout = json.loads(unescape(found.group(1)))
    # Then the viewport is the phone's, nothing scrolls sideways (neither the page nor a table
    # in its box) and every column (the RTO too) is on the screen
    assert layout["viewport"] == width
    assert layout["scroll_width"] <= width
    assert layout["too_wide"] == []


def test_a_phone_sized_screenshot_is_not_blank(page: Path) -> None:
    shot = page.parent / "phone.png"
    if not Path(phone.CHROMIUM).exists():
        pytest.fail("no Chromium: run `make chromium` (apt-get install chromium)")
    phone.screenshot(page, shot, 390, 1400)
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (390, 1400)
    # A blank page decompresses to a handful of byte values; the banner, tables and
    # timelines give many
    assert len(set(pixels)) > 40
    assert pixels.count(0xFF) < len(pixels) * 0.95

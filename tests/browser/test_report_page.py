"""The readiness report's HTML in a real browser: headless Chromium from Debian's ``chromium``
package (``make chromium`` installs it; nothing is downloaded at run time) loads the page of a
seeded fleet, and the rendered DOM and a phone-sized screenshot are checked."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from lifeboat.report import build_report, render_html
from tests.report_fleet import seed_fleet

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium: run `make chromium` (apt-get install chromium)")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={cwd / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cwd,
    )


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
    assert dom.count("<svg") == 5  # one timeline per protected resource


def test_a_phone_sized_screenshot_is_not_blank(page: Path) -> None:
    shot = page.parent / "phone.png"
    _chromium(f"--screenshot={shot}", "--window-size=390,1400", page.as_uri(), cwd=page.parent)
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (390, 1400)
    # A blank page decompresses to a handful of byte values; the banner, tables and
    # timelines give many
    assert len(set(pixels)) > 40
    assert pixels.count(0xFF) < len(pixels) * 0.95

"""A page as a phone lays it out, in headless Chromium (Debian's ``chromium``).

Chromium's window is never narrower than 500 CSS pixels: a narrower ``--window-size`` only
crops the screenshot of a 500-pixel layout. So the page goes into an ``<iframe srcdoc>`` of the
phone's width at the top left of a wrapper page: the frame is the page's viewport, its media
queries and layout are the phone's. A screenshot of a window as wide as the frame shows exactly
what the phone would.

Also the tool that makes ``docs/report.png`` from the demo's report::

    .venv/bin/python -m tests.browser.phone /tmp/lifeboat-report-….html docs/report.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from html import escape
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
PHONE_WIDTH, SHOT_HEIGHT = 420, 1500


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once, with a profile of its own in ``cwd``."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError("no Chromium: run `make chromium` (apt-get install chromium)")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={cwd / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cwd,
    )


def framed(page: str, width: int, height: int, script: str = "") -> str:
    """A wrapper page showing ``page`` in a ``width`` x ``height`` frame at its top left;
    ``script`` (test-only) is appended to the framed copy's body. A ``srcdoc`` frame has its
    wrapper's origin: its script may write into the wrapper (``parent.document``), which
    ``--dump-dom`` prints."""
    inner = page.replace("</body>", f"{script}</body>") if script else page
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">'
        f'<iframe title="phone" width="{width}" height="{height}" '
        f'style="border:0;display:block" srcdoc="{escape(inner, quote=True)}"></iframe>'
        "</body></html>"
    )


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    """A PNG of ``page`` laid out ``width`` pixels wide (its first ``height`` pixels)."""
    with tempfile.TemporaryDirectory(prefix="lifeboat-phone-") as folder:
        work = Path(folder)
        wrapper = work / "phone.html"
        wrapper.write_text(framed(page.read_text(encoding="utf-8"), width, height), "utf-8")
        chromium(
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            wrapper.as_uri(),
            cwd=work,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Screenshot an HTML page as a phone shows it.")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=PHONE_WIDTH)
    parser.add_argument("--height", type=int, default=SHOT_HEIGHT)
    args = parser.parse_args(argv)
    screenshot(args.page, args.png, args.width, args.height)


if __name__ == "__main__":
    main()

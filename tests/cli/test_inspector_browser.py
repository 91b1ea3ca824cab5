"""The HTML report in a real headless browser (Debian's chromium): it renders and shows the sample's scenes."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evermem_integrations import EverMem
from evermem_integrations.inspector import Snapshot, write_report
from evermem_integrations.inspector.snapshot import scene_color

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium); CI installs it"),
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(sample_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Snapshot]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    with EverMem(path=sample_store) as mem:
        snapshot = Snapshot.collect(mem, as_of=None, group_id="demo")
    write_report(snapshot, out)
    return out, snapshot


def test_dom_shows_every_scene_with_its_members(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    page, snapshot = report
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    cards = dict(re.findall(r'<article class="scene" id="(scene_[^"]+)"[^>]*><h3>([^<]*)</h3>', dom))
    # the known sample: Maya's move and Leo's half marathon are two themes
    assert len(snapshot.scenes) >= 2 and any("marathon" in s.title for s in snapshot.scenes)
    assert cards == {s.id: html.escape(s.title) for s in snapshot.scenes}
    for scene in snapshot.scenes:
        card = dom[dom.index(f'id="{scene.id}"') :].split("</article>", 1)[0]
        assert sorted(re.findall(r'<li id="(cell_[^"]+)"', card)) == sorted(scene.cell_ids)
    assert dom.count('<g id="cell-') == len(snapshot.cells)  # one timeline bar per MemCell, as SVG in the DOM
    assert "Maya" in dom and "Leo" in dom and "Denver" in dom


def test_screenshot_renders_the_timeline_in_scene_colours(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    from matplotlib.image import imread

    page, snapshot = report
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri())
    pixels = (imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.shape[1] == 1280 and pixels.std() > 20  # not a blank page
    for index in range(len(snapshot.scenes[:3])):
        colour = np.array([int(scene_color(index)[i : i + 2], 16) for i in (1, 3, 5)])
        close = np.abs(pixels - colour).sum(axis=-1) <= 12
        assert close.sum() > 50, f"scene colour {scene_color(index)} not visible in the screenshot"

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


def _axes_blocks(dom: str) -> list[str]:
    """The SVG of each timeline panel (matplotlib names them axes_1, axes_2, ...)."""
    svg = dom[dom.index("<svg") : dom.index("</svg>")]
    return re.split(r'<g id="axes_\d+"', svg)[1:]


def test_every_timeline_panel_has_dates(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    page, snapshot = report
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    panels = _axes_blocks(dom)
    assert len(panels) == 2 and snapshot.foresight  # MemCells by scene, and foresight windows
    for panel in panels:
        xaxis = re.split(r'<g id="matplotlib\.axis_\d+"', panel)[1]  # the x axis comes first, then the y axis
        labels = [t for t in re.findall(r"<text[^>]*>([^<]+)</text>", xaxis) if t.strip()]
        assert len(labels) >= 3, labels  # dates under the top panel too, not only the bottom one
        assert any(re.search(r"Sep|Oct|\d", label) for label in labels), labels


def test_now_line_is_the_newest_memory_when_the_data_is_older(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    page, snapshot = report
    newest = snapshot.conversation_span()[1]
    assert snapshot.as_of > newest  # the sample is from 2025; the report is made today
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    for panel in _axes_blocks(dom):
        assert 'id="now-line"' in panel  # drawn on each panel, inside its axes
    note = re.search(r'<div class="meta" id="now-note">(.*?)</div>', dom).group(1)
    assert f"newest memory ({newest.day} {newest:%b %Y})" in note and "older than the report" in note
    assert f"newest memory · {newest.day} {newest:%b %Y}" in dom  # the line's label in the SVG


def test_now_line_at_the_report_moment_within_the_data(sample_store: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    out = tmp_path / "within.html"
    with EverMem(path=sample_store) as mem:
        snapshot = Snapshot.collect(mem, as_of=datetime(2025, 9, 20, tzinfo=UTC), group_id="demo")
    write_report(snapshot, out)
    dom = chromium(tmp_path, "--dump-dom", out.as_uri()).stdout
    assert all('id="now-line"' in panel for panel in _axes_blocks(dom))
    assert "as of 20 Sep 2025" in dom and "newest memory ·" not in dom


def test_empty_profile_groups_collapse(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    page, snapshot = report
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert any(not p.states for p in snapshot.profiles)  # the sample has people with traits only
    assert '<p class="empty">none</p>' not in dom
    for profile in snapshot.profiles:
        card = dom[dom.index(f"<h3>{html.escape(profile.subject)}</h3>") :].split('class="panel person"', 1)[0]
        assert ("States · temporary" in card) == bool(profile.states)
        assert ("Traits · stable" in card) == bool(profile.traits)
        if not (profile.states and profile.traits):
            assert 'class="cols one"' in card  # one group takes the card's width


def test_the_report_renders_to_a_full_page_screenshot(report: tuple[Path, Snapshot], tmp_path: Path) -> None:
    """The page renders in Chromium; EVERMEM_SCREENSHOT_DIR keeps the picture for a person to look at."""
    import os

    page, _ = report
    shot = Path(os.environ.get("EVERMEM_SCREENSHOT_DIR") or tmp_path) / "inspector-report.png"
    chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000

"""The timeline figure: MemCells on one lane per MemScene, foresight windows underneath.

Drawn with matplotlib's object API (no pyplot, so no global state or GUI backend). The same
figure becomes the PNG (``--png``) and the inline SVG of the HTML report, where each MemCell
bar links to its card and carries a hover title.
"""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from pathlib import Path

import matplotlib
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from evermem_integrations.inspector.snapshot import UNSCENED_COLOR, VIEW_AHEAD, Snapshot

MAX_FORESIGHT_ROWS = 18
"""Foresight windows drawn (the most recent); the report's table lists them all."""
SUBJECT_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _label(text: str, width: int = 34) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def build_figure(snapshot: Snapshot) -> Figure:
    """The timeline as a matplotlib :class:`Figure` (scene lanes on top, foresight below)."""
    span = snapshot.time_span()
    lanes = [(s.id, s.title) for s in snapshot.scenes]
    if any(c.scene_id is None for c in snapshot.cells):
        lanes.append(("", "(no scene yet)"))
    if snapshot.buffered:
        lanes.append(("__buffered__", "(buffered messages)"))
    foresight = snapshot.foresight[-MAX_FORESIGHT_ROWS:]
    top_rows, bottom_rows = max(len(lanes), 1), len(foresight)
    height = 1.2 + 0.42 * top_rows + (0.9 + 0.3 * bottom_rows if bottom_rows else 0)
    figure = Figure(figsize=(11, max(2.6, height)), dpi=100, layout="constrained")
    if bottom_rows:
        scene_ax, fore_ax = figure.subplots(2, 1, sharex=True, height_ratios=[top_rows + 0.8, bottom_rows * 0.75 + 0.8])
    else:
        scene_ax, fore_ax = figure.subplots(1, 1), None
    if span is None:
        scene_ax.text(
            0.5, 0.5, "nothing remembered yet", ha="center", va="center", transform=scene_ax.transAxes, color="#666"
        )
        scene_ax.set_axis_off()
        return figure
    start, end = snapshot.conversation_span() or span
    total = max(end - start, timedelta(hours=1))
    # Foresight may reach months ahead; the axis follows the conversation (plus room for the
    # plans right after it) and longer windows are clipped with their end date written.
    view_end = end + total * VIEW_AHEAD
    min_width = total / 90  # a short MemCell is still visible
    row_of = {scene_id: index for index, (scene_id, _) in enumerate(lanes)}
    for cell in snapshot.cells:
        row = row_of.get(cell.scene_id or "", row_of.get("", 0))
        width = max(cell.end_time - cell.start_time, min_width)
        bars = scene_ax.barh(
            row,
            date2num(cell.start_time + width) - date2num(cell.start_time),
            left=date2num(cell.start_time),
            height=0.56,
            color=snapshot.color_of(cell.scene_id),
            edgecolor="white",
            linewidth=0.6,
        )
        patch = bars.patches[0]
        patch.set_gid(f"cell-{cell.id}")
        patch.set_url(f"#{cell.id}")
    if snapshot.buffered:
        row = row_of["__buffered__"]
        times = [date2num(m.timestamp) for m in snapshot.buffered]
        scene_ax.scatter(times, [row] * len(times), marker="|", s=120, color=UNSCENED_COLOR)
    scene_ax.set_yticks(range(len(lanes)), [_label(title) for _, title in lanes])
    for tick, (scene_id, _) in zip(scene_ax.get_yticklabels(), lanes, strict=True):
        tick.set_color(snapshot.color_of(scene_id) if scene_id not in ("", "__buffered__") else "#666")
    scene_ax.set_ylim(len(lanes) - 0.4, -0.6)
    scene_ax.set_title("MemCells by MemScene", loc="left", fontsize=11, fontweight="bold")
    _style(scene_ax)
    if fore_ax is not None:
        subjects = list(dict.fromkeys(f.subject for f in foresight))
        for row, item in enumerate(foresight):
            until = item.end or view_end
            color = SUBJECT_COLORS[subjects.index(item.subject) % len(SUBJECT_COLORS)]
            active = item.is_valid_at(snapshot.as_of)
            fore_ax.barh(
                row,
                date2num(until) - date2num(item.start),
                left=date2num(item.start),
                height=0.5,
                color=color,
                alpha=0.85 if active else 0.35,
                edgecolor=color,
                linewidth=0.8,
            )
            if item.end is None or item.end > view_end:
                note = "open-ended" if item.end is None else f"until {item.end.day} {item.end:%b %Y}"
                fore_ax.annotate(
                    f"→ {note}",
                    (date2num(view_end), row),
                    xytext=(-4, 0),
                    textcoords="offset points",
                    ha="right",
                    va="center",
                    fontsize=8,
                    color="white",
                    fontweight="bold",
                )
        fore_ax.set_yticks(range(len(foresight)), [_label(_plan_text(f.text, f.subject), 46) for f in foresight])
        fore_ax.set_ylim(len(foresight) - 0.4, -0.6)
        fore_ax.set_title("Foresight windows (plans and temporary states)", loc="left", fontsize=11, fontweight="bold")
        _style(fore_ax)
    marker = snapshot.now_marker()
    if marker is not None and start <= marker[0] <= view_end:
        moment, newest = marker
        for ax in (scene_ax, fore_ax):
            if ax is not None:
                line = ax.axvline(date2num(moment), color="#c0392b", linestyle="--", linewidth=1)
                line.set_gid("now-line")
        label = f"newest memory · {moment.day} {moment:%b %Y}" if newest else f"as of {moment.day} {moment:%b %Y}"
        scene_ax.annotate(
            label,
            (date2num(moment), 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, 2),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=8,
            color="#c0392b",
        )
    bottom = fore_ax if fore_ax is not None else scene_ax
    locator = AutoDateLocator(minticks=4, maxticks=10)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    scene_ax.tick_params(axis="x", labelbottom=True)  # dates under every panel, not only the bottom one
    bottom.set_xlim(date2num(start - total * 0.02), date2num(view_end if fore_ax is not None else end + total * 0.02))
    return figure


def _plan_text(text: str, subject: str) -> str:
    """Foresight text led by who it is about, without saying the name twice."""
    text = text.removeprefix(f"{subject}: ")
    return text if subject.lower() in text.lower()[: len(subject) + 12] else f"{subject}: {text}"


def _style(ax: object) -> None:
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)  # type: ignore[attr-defined]
    ax.set_axisbelow(True)  # type: ignore[attr-defined]
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]
    ax.tick_params(axis="y", length=0, labelsize=9)  # type: ignore[attr-defined]
    ax.tick_params(axis="x", labelsize=9)  # type: ignore[attr-defined]


def timeline_png(snapshot: Snapshot, dpi: int = 150) -> bytes:
    """The timeline as PNG bytes."""
    buffer = io.BytesIO()
    build_figure(snapshot).savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def write_timeline_png(snapshot: Snapshot, path: str | Path) -> Path:
    """Write the timeline PNG to ``path``."""
    target = Path(path)
    target.write_bytes(timeline_png(snapshot))
    return target


def timeline_svg(snapshot: Snapshot) -> str:
    """The timeline as an inline ``<svg>`` element: real text, clickable bars with hover titles."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "evermem"}):
        build_figure(snapshot).savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'(<svg[^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r'\1 width="100%"', svg, count=1)
    titles = {
        f"cell-{c.id}": f"{c.title} · {c.start_time:%d %b %Y %H:%M} · {len(c.messages)} messages"
        for c in snapshot.cells
    }

    def add_title(match: re.Match[str]) -> str:
        title = titles.get(match.group(1))
        return match.group(0) + (f"<title>{html.escape(title)}</title>" if title else "")

    return re.sub(r'<g id="(cell-[^"]+)">', add_title, svg)

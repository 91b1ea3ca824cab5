"""The HTML memory report: one self-contained page (inline CSS and SVG, no external URLs).

Sections: a timeline of MemCells coloured by MemScene, each scene with its title, keywords
and member MemCells (narrative and facts), each person's profile with stable traits apart from
temporary states and the messages that evidence them, and the foresight windows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from evermem_integrations.engine.models import Foresight, MemCell, MemScene, Message, Profile, ProfileItem
from evermem_integrations.inspector.snapshot import UNSCENED_COLOR, Snapshot
from evermem_integrations.inspector.timeline import timeline_svg

CSS = """
:root { --ink:#1f2933; --muted:#6b7280; --line:#e5e7eb; --bg:#f7f7f5; --card:#fff; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
main { max-width:1180px; margin:0 auto; padding:28px 24px 60px; }
header h1 { margin:0 0 4px; font-size:26px; letter-spacing:-.01em; }
header .sub { color:var(--muted); }
.chips { display:flex; flex-wrap:wrap; gap:8px; margin:14px 0 6px; }
.chip { background:var(--card); border:1px solid var(--line); border-radius:999px; padding:3px 12px; font-size:13px; }
.chip b { font-size:15px; margin-right:4px; }
nav { margin:10px 0 0; font-size:14px; } nav a { color:var(--accent); margin-right:14px; text-decoration:none; }
section { margin-top:30px; }
h2 { font-size:19px; margin:0 0 12px; padding-bottom:6px; border-bottom:2px solid var(--line); }
.panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.timeline svg { display:block; max-width:100%; height:auto; }
.legend { display:flex; flex-wrap:wrap; gap:8px 18px; margin-top:8px; font-size:13px; }
.dot { display:inline-block; width:11px; height:11px; border-radius:3px; margin-right:6px; vertical-align:-1px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(340px, 1fr)); gap:14px; }
.scene { background:var(--card); border:1px solid var(--line); border-left:6px solid var(--c); border-radius:10px;
         padding:12px 14px; }
.scene h3 { margin:0; font-size:16px; }
.meta { color:var(--muted); font-size:13px; }
.kw { display:inline-block; background:color-mix(in srgb, var(--c) 14%, white); color:var(--ink); border-radius:6px;
      padding:0 7px; margin:4px 4px 0 0; font-size:12px; }
.cells { list-style:none; margin:10px 0 0; padding:0; }
.cells li { border-top:1px solid var(--line); padding:6px 0; }
.cells li:target { background:#fff8db; }
details summary { cursor:pointer; }
details .episode { margin:6px 0; font-size:14px; }
details ul.facts { margin:4px 0 4px 18px; padding:0; font-size:13px; }
.superseded { text-decoration:line-through; color:var(--muted); }
.people { display:grid; grid-template-columns:repeat(auto-fill, minmax(520px, 1fr)); gap:14px; }
.cols { display:grid; grid-template-columns:1fr 1fr; gap:14px; }
.cols.one { grid-template-columns:1fr; }
.cols h4 { margin:4px 0 6px; font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); }
.item { border:1px solid var(--line); border-radius:8px; padding:7px 9px; margin-bottom:8px; }
.item .attr { font-weight:600; } .item .val { font-weight:600; color:var(--accent); }
.state .val { color:#b45309; }
blockquote { margin:5px 0 0; padding:3px 9px; border-left:3px solid var(--line); color:#374151; font-size:13px; }
mark { background:#fff3bf; padding:0 2px; border-radius:3px; }
blockquote .who { color:var(--muted); font-size:12px; display:block; }
.history { font-size:13px; color:var(--muted); margin-top:6px; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:10px;
        overflow:hidden; }
th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line); font-size:14px; vertical-align:top; }
th { background:#f1f1ee; font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); }
.badge { border-radius:999px; padding:1px 9px; font-size:12px; white-space:nowrap; }
.active { background:#dcfce7; color:#166534; } .ahead { background:#e0f2fe; color:#075985; }
.past { background:#f3f4f6; color:#6b7280; }
.empty { color:var(--muted); font-style:italic; }
footer { margin-top:40px; color:var(--muted); font-size:12px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _day(moment: datetime | None) -> str:
    return f"{moment.day} {moment:%b %Y}" if moment else "open-ended"


def _time(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M}"


def render_report(snapshot: Snapshot) -> str:
    """The whole report as an HTML string."""
    stats = snapshot.stats
    chips = "".join(
        f'<span class="chip"><b>{n}</b>{_e(label)}</span>'
        for n, label in (
            (stats.messages, "messages"),
            (stats.memcells, "MemCells"),
            (stats.scenes, "MemScenes"),
            (stats.facts, "facts"),
            (stats.profile_items, "profile entries"),
            (stats.foresight, "foresight"),
            (stats.buffered, "buffered"),
        )
    )
    body = "\n".join(
        [
            f'<header><h1>EverMem memory report</h1><div class="sub">scope <b>{_e(snapshot.scope_label)}</b>'
            f' · as of {_e(_time(snapshot.as_of))} UTC</div><div class="chips">{chips}</div>'
            '<nav><a href="#timeline">Timeline</a><a href="#scenes">Scenes</a><a href="#profile">Profile</a>'
            '<a href="#foresight">Foresight</a></nav></header>',
            _timeline_section(snapshot),
            _scenes_section(snapshot),
            _profile_section(snapshot),
            _foresight_section(snapshot),
            _buffered_section(snapshot),
            f"<footer>Generated by evermem-integrations · {_e(_time(snapshot.as_of))} UTC · "
            "self-contained page.</footer>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>EverMem · {_e(snapshot.scope_label)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def write_report(snapshot: Snapshot, path: str | Path) -> int:
    """Write the report to ``path``; returns its size in bytes."""
    data = render_report(snapshot).encode("utf-8")
    Path(path).write_bytes(data)
    return len(data)


def _timeline_section(snapshot: Snapshot) -> str:
    legend = "".join(
        f'<span><i class="dot" style="background:{snapshot.color_of(s.id)}"></i>{_e(s.title)}</span>'
        for s in snapshot.scenes
    )
    return (
        '<section id="timeline"><h2>Timeline</h2><div class="panel timeline">'
        f'{timeline_svg(snapshot)}<div class="legend">{legend}</div>'
        '<div class="meta">Each bar is a MemCell (an episode), on the lane of its MemScene; click one to open it.</div>'
        f'<div class="meta" id="now-note">{_now_note(snapshot)}</div></div></section>'
    )


def _now_note(snapshot: Snapshot) -> str:
    """What the timeline's dashed line marks, said in words."""
    marker = snapshot.now_marker()
    if marker is None:
        return ""
    moment, newest = marker
    if newest:
        return _e(
            f"The data is older than the report ({_day(snapshot.as_of)}): the dashed line marks the newest memory "
            f"({_day(moment)}). Profile states and foresight are judged as of the report's moment."
        )
    return _e(f"The dashed line marks the report's moment ({_day(moment)}).")


def _scenes_section(snapshot: Snapshot) -> str:
    if not snapshot.scenes and not snapshot.cells:
        return (
            '<section id="scenes"><h2>Scenes</h2>'
            '<p class="empty">No MemCells yet: messages are still buffered.</p></section>'
        )
    cards = [_scene_card(snapshot, scene) for scene in snapshot.scenes]
    loose = [c for c in snapshot.cells if c.scene_id is None]
    if loose:
        cards.append(
            _card(UNSCENED_COLOR, "no scene yet", [], loose, loose[0].start_time, loose[-1].end_time, "unscened")
        )
    return (
        f'<section id="scenes"><h2>Scenes ({len(snapshot.scenes)})</h2>'
        f'<div class="grid">{"".join(cards)}</div></section>'
    )


def _scene_card(snapshot: Snapshot, scene: MemScene) -> str:
    return _card(
        snapshot.color_of(scene.id),
        scene.title,
        scene.keywords,
        snapshot.cells_of(scene),
        scene.start_time,
        scene.end_time,
        scene.id,
    )


def _card(
    color: str, title: str, keywords: Iterable[str], cells: list[MemCell], start: datetime, end: datetime, anchor: str
) -> str:
    people = sorted({p for c in cells for p in c.participants})
    kws = "".join(f'<span class="kw">{_e(k)}</span>' for k in keywords)
    members = "".join(_cell_item(c) for c in cells)
    return (
        f'<article class="scene" id="{_e(anchor)}" style="--c:{color}"><h3>{_e(title)}</h3>'
        f'<div class="meta">{_e(_day(start))} – {_e(_day(end))} · {len(cells)} MemCell{"s" if len(cells) != 1 else ""}'
        f' · {_e(", ".join(people))}</div><div>{kws}</div><ul class="cells">{members}</ul></article>'
    )


def _cell_item(cell: MemCell) -> str:
    facts = "".join(f'<li class="{"superseded" if f.superseded_by else ""}">{_e(f.text)}</li>' for f in cell.facts)
    return (
        f'<li id="{_e(cell.id)}"><details><summary><b>{_e(cell.title)}</b> '
        f'<span class="meta">{_e(_time(cell.start_time))} · {len(cell.messages)} messages · '
        f"{len(cell.facts)} facts</span></summary>"
        f'<p class="episode">{_e(cell.episode)}</p>'
        + (f'<ul class="facts">{facts}</ul>' if facts else "")
        + "</details></li>"
    )


def _profile_section(snapshot: Snapshot) -> str:
    subjects = list(dict.fromkeys([p.subject for p in snapshot.profiles] + [h.subject for h in snapshot.history]))
    if not subjects:
        return '<section id="profile"><h2>Profile</h2><p class="empty">No profile entries yet.</p></section>'
    by_subject = {p.subject: p for p in snapshot.profiles}
    cards = []
    for subject in subjects:
        profile = by_subject.get(subject, Profile(subject=subject))
        history = [h for h in snapshot.history if h.subject == subject]
        changes = "".join(
            f'<li><span class="{"superseded" if h.status == "superseded" else ""}">'
            f"{_e(h.attribute)}: {_e(h.value)}</span>"
            f" ({_e(_day(h.valid_from))} – {_e(_day(h.valid_until))})</li>"
            for h in history
        )
        # Only the groups a person has: an empty one would take half the card to say "none".
        groups = [
            f"<div><h4>{title}</h4>{_items(snapshot, items, kind)}</div>"
            for title, items, kind in (
                ("Traits · stable", profile.traits, "trait"),
                ("States · temporary", profile.states, "state"),
            )
            if items
        ]
        columns = (
            f'<div class="cols{" one" if len(groups) == 1 else ""}">{"".join(groups)}</div>'
            if groups
            else '<p class="empty">No current entries.</p>'
        )
        cards.append(
            f'<div class="panel person"><h3>{_e(subject)}</h3>{columns}'
            + (f'<div class="history">Earlier values:<ul>{changes}</ul></div>' if changes else "")
            + "</div>"
        )
    return f'<section id="profile"><h2>Profile</h2><div class="people">{"".join(cards)}</div></section>'


def _items(snapshot: Snapshot, items: list[ProfileItem], kind: str) -> str:
    if not items:
        return '<p class="empty">none</p>'
    blocks = []
    for item in items:
        window = f"since {_day(item.valid_from)}" + (f", until {_day(item.valid_until)}" if item.valid_until else "")
        blocks.append(
            f'<div class="item {kind}"><span class="attr">{_e(item.attribute)}</span>: '
            f'<span class="val">{_e(item.value)}</span> <span class="meta">{_e(window)}</span>'
            f"{_evidence(snapshot.evidence(item), item.evidence, item.value)}</div>"
        )
    return "".join(blocks)


def _evidence(messages: list[Message], ids: list[str], value: str) -> str:
    if not messages:
        return f'<div class="meta">evidence: {_e(", ".join(ids))}</div>' if ids else ""
    return "".join(
        f'<blockquote><span class="who">{_e(m.sender)} · {_e(_time(m.timestamp))} · {_e(m.id)}</span>'
        f"{_highlight(m.content, value)}</blockquote>"
        for m in messages[:3]
    )


def _highlight(text: str, value: str) -> str:
    """``text`` escaped, with the profile value marked where the message says it."""
    at = text.lower().find(value.lower()) if value else -1
    if at < 0:
        return _e(text)
    return f"{_e(text[:at])}<mark>{_e(text[at : at + len(value)])}</mark>{_e(text[at + len(value) :])}"


def _foresight_section(snapshot: Snapshot) -> str:
    if not snapshot.foresight:
        return (
            '<section id="foresight"><h2>Foresight</h2>'
            '<p class="empty">No plans or temporary states recorded.</p></section>'
        )
    rows = "".join(_foresight_row(snapshot, f) for f in snapshot.foresight)
    return (
        f'<section id="foresight"><h2>Foresight ({len(snapshot.foresight)})</h2>'
        "<table><thead><tr><th>who</th><th>plan or state</th><th>window</th><th>as of report</th>"
        "<th>source</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _foresight_row(snapshot: Snapshot, item: Foresight) -> str:
    status = "active" if item.is_valid_at(snapshot.as_of) else ("ahead" if item.start > snapshot.as_of else "past")
    source = snapshot.evidence(item)
    quote = f"{source[0].sender}: {source[0].content}" if source else ", ".join(item.source_message_ids)
    return (
        f"<tr><td>{_e(item.subject)}</td><td>{_e(item.text)}</td>"
        f'<td>{_e(_day(item.start))} → {_e(_day(item.end))}</td><td><span class="badge {status}">{status}</span></td>'
        f'<td class="meta">{_e(quote)}</td></tr>'
    )


def _buffered_section(snapshot: Snapshot) -> str:
    if not snapshot.buffered:
        return ""
    rows = "".join(
        f"<tr><td>{_e(_time(m.timestamp))}</td><td>{_e(m.sender)}</td><td>{_e(m.content)}</td></tr>"
        for m in snapshot.buffered[-50:]
    )
    return (
        f'<section id="buffered"><h2>Buffered messages ({len(snapshot.buffered)})</h2>'
        '<p class="meta">Not yet cut into a MemCell (searchable already); '
        "`evermem ingest` without --no-flush closes them.</p>"
        f"<table><thead><tr><th>when</th><th>who</th><th>message</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )

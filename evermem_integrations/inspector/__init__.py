"""The memory inspector: what one scope remembers, as an HTML report and a PNG timeline.

The report and timeline functions load matplotlib, so they are imported on first use: the
CLI's other commands (which share :class:`Snapshot`) start without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from evermem_integrations.inspector.snapshot import Snapshot

_LAZY = {
    "render_report": "evermem_integrations.inspector.report",
    "write_report": "evermem_integrations.inspector.report",
    "build_figure": "evermem_integrations.inspector.timeline",
    "timeline_png": "evermem_integrations.inspector.timeline",
    "timeline_svg": "evermem_integrations.inspector.timeline",
    "write_timeline_png": "evermem_integrations.inspector.timeline",
}

__all__ = [
    "Snapshot",
    "build_figure",
    "render_report",
    "timeline_png",
    "timeline_svg",
    "write_report",
    "write_timeline_png",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

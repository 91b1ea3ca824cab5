"""The memory inspector: what one scope remembers, as an HTML report and a PNG timeline.

The report and timeline functions load matplotlib, so they are imported on first use: the
CLI's other commands (which share :class:`Snapshot`) start without it. matplotlib comes with
the ``inspector`` extra (``pip install "evermem-integrations[inspector]"``); without it these
functions raise :class:`~evermem_integrations.errors.ConfigurationError` saying so.
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
    "INSTALL_HINT",
    "Snapshot",
    "build_figure",
    "render_report",
    "require_matplotlib",
    "timeline_png",
    "timeline_svg",
    "write_report",
    "write_timeline_png",
]


INSTALL_HINT = 'pip install "evermem-integrations[inspector]"'


def require_matplotlib() -> None:
    """Fail with what to install when matplotlib, which draws the timeline, is missing.

    Raises:
        ConfigurationError: matplotlib is not installed (it comes with the ``inspector`` extra).

    """
    try:
        import_module("matplotlib")
    except ImportError as exc:
        from evermem_integrations.errors import ConfigurationError

        raise ConfigurationError(
            f"the memory inspector draws its timeline with matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_matplotlib()
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

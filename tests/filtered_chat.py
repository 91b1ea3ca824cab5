"""The bundled Maya-and-Leo chat with the metadata a chat app attaches: a channel and a thread per message.

Each day is one thread; the days alternate between Slack and SMS, and on 14 September the chat
moves from SMS to email halfway, so that day's MemCell is drawn from messages of two channels.
"""

import json
from importlib import resources
from typing import Any

DAY_THREADS = {"09-12": "job", "09-14": "running", "09-18": "apartment", "09-21": "knee", "09-24": "arrival"}


def messages() -> list[dict[str, Any]]:
    data = json.loads(resources.files("evermem_integrations").joinpath("data/sample_conversation.json").read_text())
    out = []
    days = sorted({m["timestamp"][5:10] for m in data["messages"]})
    for message in data["messages"]:
        day = message["timestamp"][5:10]
        channel = "slack" if days.index(day) % 2 == 0 else "sms"
        if day == "09-14" and message["id"] >= "m14":
            channel = "email"
        meta = {"channel": channel, "thread": DAY_THREADS.get(day, f"day-{day}"), "n": int(message["id"][1:])}
        if message["id"] in ("m03", "m23"):
            meta["tags"] = ["work", "milestone"]
        out.append({**message, "metadata": meta})
    return out


def ids_where(test: Any) -> set[str]:
    """Ids of the messages whose metadata passes ``test``."""
    return {m["id"] for m in messages() if test(m["metadata"])}

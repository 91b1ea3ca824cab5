"""Where the CLI's settings come from: flags, then environment, then a config file, then defaults.

Each effective value remembers its source so ``evermem config`` can say why a setting is what
it is. The config file is TOML, read with :mod:`tomllib`::

    path = "./.evermem"                  # or chroma_url = "http://127.0.0.1:8000"
    # database_url = "postgresql://user:pass@host:5432/db"   (records on PostgreSQL, with chroma_url)
    # database_schema = "evermem"  database_pool_size = 8     (the PostgreSQL schema, connections per process)
    embedder = "static"
    [llm]
    base_url = "http://localhost:11434/v1"
    model = "qwen2.5:7b-instruct"
    api_key = "..."
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evermem_integrations.errors import ConfigurationError

DEFAULT_PATH = "./.evermem"
LOCAL_CONFIG = Path("evermem.toml")

# setting -> (environment variables in priority order, key path in the config file, default)
SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {
    "path": (("EVERMEM_PATH",), ("path",), DEFAULT_PATH),
    "chroma_url": (("EVERMEM_CHROMA_URL",), ("chroma_url",), None),
    "database_url": (("EVERMEM_DATABASE_URL",), ("database_url",), None),
    "database_schema": (("EVERMEM_DATABASE_SCHEMA",), ("database_schema",), None),
    "database_pool_size": (("EVERMEM_DATABASE_POOL_SIZE",), ("database_pool_size",), None),
    "embedder": (("EVERMEM_EMBEDDER",), ("embedder",), "static"),
    "llm_base_url": (("EVERMEM_LLM_BASE_URL",), ("llm", "base_url"), None),
    "llm_model": (("EVERMEM_LLM_MODEL",), ("llm", "model"), None),
    "llm_api_key": (("EVERMEM_LLM_API_KEY", "OPENAI_API_KEY"), ("llm", "api_key"), None),
}
SECRET_SETTINGS = frozenset({"llm_api_key"})


# Dataclasses, not pydantic models: building the first model class costs pydantic ~0.1 s,
# which every `evermem` call (even `--help`) would pay.
@dataclass(frozen=True)
class Setting:
    """One effective setting and where it came from (``flag``, ``env NAME``, a file, ``default``)."""

    name: str
    value: str | None
    source: str

    def shown(self) -> str:
        """The value as printed: secrets masked, unset as a dash."""
        if self.value is None:
            return "-"
        if self.name in SECRET_SETTINGS:
            return mask(self.value)
        if self.name == "database_url":  # postgresql://user:password@host/db: the password stays hidden
            return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1****@", self.value)
        return self.value


@dataclass(frozen=True)
class Settings:
    """The CLI's effective configuration."""

    values: dict[str, Setting]
    config_file: Path | None = None
    searched: list[Path] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The effective value of ``name``."""
        return self.values[name].value

    @property
    def llm_configured(self) -> bool:
        """Whether an LLM was configured (a model or an endpoint)."""
        return bool(self.get("llm_model") or self.get("llm_base_url"))


def mask(secret: str) -> str:
    """``sk-...abcd``: enough to recognise a key, not enough to use it."""
    return "****" if len(secret) <= 8 else f"{secret[:3]}...{secret[-4:]}"


def config_candidates(explicit: str | Path | None, env: Mapping[str, str]) -> list[Path]:
    """Config files in the order they are looked for (the first that exists wins)."""
    if explicit:
        return [Path(explicit).expanduser()]
    if env.get("EVERMEM_CONFIG"):
        return [Path(env["EVERMEM_CONFIG"]).expanduser()]
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [LOCAL_CONFIG, Path(xdg) / "evermem" / "config.toml"]


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; raises :class:`ConfigurationError` naming the fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML ({exc})") from exc
    known_top = {keys[0] for _, keys, _ in SETTINGS.values()}
    unknown = sorted(set(data) - known_top)
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known_top)}")
    llm = data.get("llm", {})
    if not isinstance(llm, Mapping):
        raise ConfigurationError(f"{path}: 'llm' must be a table ([llm] with base_url, model, api_key)")
    unknown_llm = sorted(set(llm) - {"base_url", "model", "api_key"})
    if unknown_llm:
        raise ConfigurationError(f"{path}: unknown [llm] setting(s) {unknown_llm}; known: base_url, model, api_key")
    return data


def resolve_settings(
    flags: Mapping[str, str | None],
    *,
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags > environment > config file > defaults, remembering each value's source.

    Args:
        flags: values given on the command line (``None`` = not given).
        config_path: ``--config FILE``; it must exist when given.
        env: the environment (default ``os.environ``).

    """
    env = os.environ if env is None else env
    candidates = config_candidates(config_path, env)
    explicit = bool(config_path or env.get("EVERMEM_CONFIG"))
    config_file = next((c for c in candidates if c.is_file()), None)
    if explicit and config_file is None:
        raise ConfigurationError(f"config file {candidates[0]} does not exist; fix --config / EVERMEM_CONFIG")
    file_data = read_config_file(config_file) if config_file else {}
    values: dict[str, Setting] = {}
    for name, (env_names, keys, default) in SETTINGS.items():
        if flags.get(name) is not None:
            values[name] = Setting(name=name, value=flags[name], source="flag")
            continue
        env_name = next((e for e in env_names if env.get(e)), None)
        if env_name is not None:
            values[name] = Setting(name=name, value=env[env_name], source=f"env {env_name}")
            continue
        found: Any = file_data
        for key in keys:
            found = found.get(key) if isinstance(found, Mapping) else None
        if found is not None:
            values[name] = Setting(name=name, value=str(found), source=f"file {config_file}")
        else:
            values[name] = Setting(name=name, value=default, source="default")
    return Settings(values=values, config_file=config_file, searched=candidates)

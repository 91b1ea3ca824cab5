"""User mistakes end in one `error:` line and exit code 2; settings come from flags, env and files."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import typer

from evermem_integrations.cli.config import resolve_settings


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_missing_file(invoke, store: Path) -> None:
    assert_one_line_error(invoke("ingest", "nope.json", "--user", "u", "--path", str(store)), "nope.json: no such file")


def test_invalid_json(invoke, tmp_path: Path, store: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user", "content": "hi"},')
    assert_one_line_error(invoke("ingest", str(bad), "--user", "u", "--path", str(store)), "not valid JSON")


def test_bad_message(invoke, tmp_path: Path, store: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"role": "user", "content": "fine words"}, {"role": "user", "content": ""}]))
    assert_one_line_error(
        invoke("ingest", str(bad), "--user", "u", "--path", str(store)), "message 1", "content is empty"
    )
    assert_stores_nothing(store)


def assert_stores_nothing(store: Path) -> None:
    """A rejected batch leaves no scope behind (the store may exist, empty)."""
    if not store.exists():
        return
    from evermem_integrations import EverMem

    with EverMem(path=store) as mem:
        assert mem.scopes() == []


def test_no_scope(invoke, chat_file: Path, store: Path) -> None:
    assert_one_line_error(invoke("ingest", str(chat_file), "--path", str(store)), "no scope given", "--user")


def test_unknown_scope_names_the_stored_ones(invoke, sample_store: Path) -> None:
    assert_one_line_error(
        invoke("search", "x", "--user", "nobody", "--path", str(sample_store)),
        "no memories for user=nobody",
        "group=demo",
    )


def test_missing_store(invoke, tmp_path: Path) -> None:
    result = invoke("show", "memcells", "--user", "u", "--path", str(tmp_path / "typo"))
    assert_one_line_error(result, "no store at", "typo")
    assert not (tmp_path / "typo").exists()  # reading never creates a store


def test_bad_time_option(invoke, sample_store: Path) -> None:
    assert_one_line_error(
        invoke("show", "memcells", "--group", "demo", "--path", str(sample_store), "--after", "soonish"), "--after"
    )


def test_agentic_search_without_llm(invoke, sample_store: Path) -> None:
    result = invoke("search", "where", "--group", "demo", "--path", str(sample_store), "--method", "agentic")
    assert_one_line_error(result, "LLM")


def test_not_an_export(invoke, chat_file: Path, store: Path) -> None:
    assert_one_line_error(invoke("import", str(chat_file), "--path", str(store)), "not an evermem export")


def test_verbose_shows_the_traceback(invoke, store: Path) -> None:
    result = invoke("--verbose", "ingest", "nope.json", "--user", "u", "--path", str(store))
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "error: " in result.stderr
    local = invoke("ingest", "nope.json", "--user", "u", "--path", str(store), "-v")
    assert "Traceback" in local.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("search", "x", "--user", "u", "--budget", "lots"), ("--budget", "valid integer")),
        (("search", "x", "--user", "u", "--budget", "10"), ("--budget", "greater than or equal to 50")),
        (("search", "x", "--user", "u", "--method", "magic"), ("--method", "'magic'", "hybrid")),
        (("show", "--user", "u"), ("missing argument 'what'", "memcells, scenes")),
        (("show", "everything", "--user", "u"), ("'everything'", "memcells")),
        (("ingest",), ("missing argument 'file'",)),
        (("search", "x", "--colour", "red"), ("no such option", "--colour")),
        (("frobnicate",), ("no such command", "frobnicate")),
        (("--path",), ("--path", "requires an argument")),
    ],
)
def test_usage_errors_are_one_line(invoke, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    line = assert_one_line_error(invoke(*args), *fragments)
    assert "--help" in line  # where to look for the right usage
    assert not any(box in line for box in "╭╰│─")


def test_usage_errors_of_the_real_program_are_one_line() -> None:
    """The console script (not only click's test runner) prints one line and exits with 2."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "evermem_integrations.cli", "search", "x", "--user", "u", "--budget", "lots"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr


def test_help_and_no_arguments_still_show_the_usage(invoke) -> None:
    assert invoke("--help").exit_code == 0
    assert "Usage" in invoke().output
    assert "Usage" in invoke("show", "--help").output


# -- configuration ----------------------------------------------------------------------------------
def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    config = tmp_path / "evermem.toml"
    config.write_text(
        'path = "/from/file"\nembedder = "static:/models/x"\n'
        '[llm]\nmodel = "file-model"\napi_key = "sk-file-123456789"\n'
    )
    env = {"EVERMEM_PATH": "/from/env", "EVERMEM_LLM_MODEL": "env-model", "OPENAI_API_KEY": "sk-openai-abcdefgh"}
    settings = resolve_settings({"path": "/from/flag"}, config_path=config, env=env)
    assert (settings.values["path"].value, settings.values["path"].source) == ("/from/flag", "flag")
    assert (settings.get("llm_model"), settings.values["llm_model"].source) == ("env-model", "env EVERMEM_LLM_MODEL")
    assert settings.values["llm_api_key"].source == "env OPENAI_API_KEY"  # env beats the file
    assert settings.values["llm_api_key"].shown() == "sk-...efgh"
    assert (settings.get("embedder"), settings.values["embedder"].source) == ("static:/models/x", f"file {config}")
    assert (settings.get("chroma_url"), settings.values["chroma_url"].source) == (None, "default")
    preferred = resolve_settings({}, env={"EVERMEM_LLM_API_KEY": "a" * 12, "OPENAI_API_KEY": "b" * 12})
    assert preferred.get("llm_api_key") == "a" * 12


def test_config_file_discovery(isolated: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg" / "evermem"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text('chroma_url = "http://127.0.0.1:8000"\n')
    settings = resolve_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert settings.get("chroma_url") == "http://127.0.0.1:8000"
    (isolated / "evermem.toml").write_text('chroma_url = "http://127.0.0.1:9000"\n')  # ./evermem.toml wins
    assert (
        resolve_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}).get("chroma_url")
        == "http://127.0.0.1:9000"
    )


def test_config_command_shows_values_and_sources(invoke, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "evermem.toml").write_text('[llm]\nbase_url = "http://localhost:11434/v1"\n')
    monkeypatch.setenv("EVERMEM_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("EVERMEM_LLM_API_KEY", "sk-secret-0123456789")
    result = invoke("--path", "/data/mem", "config")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 3}
    assert "/data/mem" in rows["path"] and "flag" in rows["path"]
    assert "qwen2.5:7b" in rows["llm_model"] and "env EVERMEM_LLM_MODEL" in rows["llm_model"]
    assert "http://localhost:11434/v1" in rows["llm_base_url"] and "evermem.toml" in rows["llm_base_url"]
    assert "sk-secret-0123456789" not in result.output and "sk-...6789" in rows["llm_api_key"]
    assert "LLM: on (qwen2.5:7b)" in result.output


def test_bad_config_file_is_one_line(invoke, isolated: Path) -> None:
    (isolated / "evermem.toml").write_text("path = \n")
    assert_one_line_error(invoke("config"), "evermem.toml", "invalid TOML")
    (isolated / "evermem.toml").write_text('colour = "blue"\n')
    assert_one_line_error(invoke("config"), "unknown setting(s) ['colour']")
    assert_one_line_error(invoke("--config", "missing.toml", "config"), "missing.toml does not exist")


def test_unknown_embedder(invoke, sample_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVERMEM_EMBEDDER", "word2vec")
    assert_one_line_error(invoke("scopes", "--path", str(sample_store)), "unknown embedder 'word2vec'")


def test_llm_settings_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from evermem_integrations.cli.store import make_llm

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-xyz")
    settings = resolve_settings({"llm_model": "gpt-4.1-mini", "llm_base_url": "http://127.0.0.1:1/v1"}, env={})
    config = make_llm(settings)
    assert (config.model, config.base_url) == ("gpt-4.1-mini", "http://127.0.0.1:1/v1")
    assert config.api_key.get_secret_value() == "sk-from-env-xyz"  # LLMConfig's own default still applies
    assert make_llm(resolve_settings({}, env={})) is None


# -- the bench sub-app -------------------------------------------------------------------------------
def test_bench_is_mounted_lazily(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("evermem_integrations.bench.cli")
    fake.bench_app = typer.Typer(help="Fake benchmarks.")

    @fake.bench_app.command()
    def ping() -> None:
        typer.echo("pong")

    monkeypatch.setitem(sys.modules, "evermem_integrations.bench.cli", fake)
    assert "bench" in invoke("--help").output
    assert invoke("bench", "ping").output.strip() == "pong"


def test_a_broken_bench_module_leaves_the_cli_working(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = types.ModuleType("evermem_integrations.bench.cli")  # no bench_app attribute
    monkeypatch.setitem(sys.modules, "evermem_integrations.bench.cli", broken)
    assert invoke("--help").exit_code == 0
    assert invoke("config").exit_code == 0
    assert_one_line_error(invoke("bench", "locomo"), "bench commands could not be loaded")


def test_binary_file(invoke, tmp_path: Path, store: Path) -> None:
    blob = tmp_path / "photo.json"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert_one_line_error(
        invoke("ingest", str(blob), "--user", "u", "--path", str(store)), "photo.json is not UTF-8 text"
    )


def test_unreachable_chroma_server(invoke, sample_store: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = invoke("scopes", "--path", str(sample_store), "--chroma-url", f"http://127.0.0.1:{port}")
    assert_one_line_error(result, f"cannot reach the Chroma server at http://127.0.0.1:{port}", "chroma run")


@pytest.fixture(params=[200, 404])
def html_server(request: pytest.FixtureRequest):
    """A web server on 127.0.0.1 that answers every request with an HTML page, as a wrong port would."""
    import http.server
    import threading

    status = request.param
    body = b"<!DOCTYPE HTML>\n<html><head><title>Directory listing for /</title></head>\n<body>hi</body></html>\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_not_chroma(invoke, sample_store: Path, html_server: str) -> None:
    line = assert_one_line_error(
        invoke("scopes", "--path", str(sample_store), "--chroma-url", html_server),
        f"{html_server} is not a Chroma server",
        "text/html",
        "chroma run",
    )
    assert "DOCTYPE" not in line and "<" not in line


# -- start-up -------------------------------------------------------------------------------------
HEAVY_MODULES = (
    "numpy",
    "chromadb",
    "openai",
    "matplotlib",
    "evermem_integrations.engine",
    "evermem_integrations.bench",
)


@pytest.mark.parametrize("args", [["--help"], ["no-such-command"], ["search", "--no-such-option"]])
def test_help_and_usage_errors_import_no_engine(args: list[str]) -> None:
    """`evermem --help` and a usage error answer without loading the engine, Chroma or numpy (start time)."""
    import subprocess

    probe = (
        "import sys\n"
        "from evermem_integrations.cli import main\n"
        f"sys.argv = ['evermem', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY_MODULES!r}))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert "HEAVY []" in result.stderr, result.stderr[-2000:]

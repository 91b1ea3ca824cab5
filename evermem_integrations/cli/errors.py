"""How the CLI reports failures: user mistakes as one line, bugs as tracebacks.

:class:`EverMemGroup` wraps every command (including mounted sub-apps): an error the user can
fix (a bad flag value, a missing file, invalid JSON, an engine :class:`EverMemError`) becomes
``error: <what to fix>`` on stderr and exit code 1; ``--verbose`` adds the traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup
from typer.exceptions import Abort

from evermem_integrations.errors import EverMemError

USAGE_EXIT_CODE = 2
"""Exit code of every user mistake, as click uses for usage errors."""

USER_ERRORS: tuple[type[BaseException], ...] = (EverMemError, OSError, ValueError, UnicodeError)
"""Failures caused by input, files or configuration (JSON and TOML errors are ValueErrors)."""

BENCH_MODULE = "evermem_integrations.bench.cli"
BENCH_HELP = "Benchmarks: retrieval and QA on LoCoMo / LongMemEval against baselines, and store scale."
"""The ``bench`` line of ``evermem --help``, shown without importing the benchmarks."""


class CliError(EverMemError):
    """A CLI-level mistake (unknown scope, missing store); the message says what to fix."""


def one_line(exc: BaseException) -> str:
    """A single readable line for ``exc``."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{exc.error_count()} validation error(s) in {exc.title}; first: {where}: {first.get('msg')}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.splitlines()[0].split()) if "\n" in text else text


def usage_line(exc: ClickException, program: str = "evermem") -> str:
    """A click usage error as one line: what is wrong, then which ``--help`` shows the usage."""
    message = " ".join(exc.format_message().split()).replace(": Value error, ", ": ")
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else program
    return f"{message.rstrip('.')} (see `{command} --help`)"


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, one line whatever the terminal width."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(message)}", markup=True)


def is_verbose(ctx: typer.Context) -> bool:
    """Whether ``--verbose`` was given on the root or the command."""
    obj: Any = ctx.find_root().obj
    return bool(getattr(obj, "verbose", False))


class EverMemGroup(TyperGroup):
    """The root command group: one-line errors, and the ``bench`` sub-app mounted lazily.

    Typer ships its own copy of click, so contexts and commands are typed ``Any`` here rather
    than against that private module.
    """

    def invoke(self, ctx: Any) -> Any:
        """Run the command; turn user errors into ``error: ...`` and exit code 2."""
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if is_verbose(ctx):
                Console(stderr=True).print_exception(show_locals=False)
            print_error(one_line(exc))
            raise typer.Exit(USAGE_EXIT_CODE) from None
        except KeyboardInterrupt:
            Console(stderr=True).print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the program; click's usage errors become one ``error:`` line and exit code 2.

        Typer would print them as a boxed panel of six lines or more. ``--help`` and a bare
        ``evermem`` still print the usage.
        """
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except ClickException as exc:
            if isinstance(exc, NoArgsIsHelpError):
                typer.echo(exc.format_message(), err=True)
                sys.exit(USAGE_EXIT_CODE)
            print_error(usage_line(exc, kwargs.get("prog_name") or self.name or "evermem"))
            sys.exit(exc.exit_code)
        except Abort:
            print_error("aborted")
            sys.exit(1)
        # Outside standalone mode click returns the code of a `typer.Exit` (commands return None).
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, plus ``bench`` when that module ships with this installation."""
        names = super().list_commands(ctx)
        if "bench" not in names and _bench_available():
            names.append("bench")
        return names

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """Resolve a command; ``bench`` is imported only when asked for."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name == "bench" and _bench_available():
            return LazyBench()
        return command


class LazyBench(TyperGroup):
    """``evermem bench`` as listed by ``--help``: the benchmarks (numpy, the engine) load when it runs."""

    def __init__(self) -> None:
        super().__init__(name="bench", help=BENCH_HELP)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """Parse with the real group, which then runs the command."""
        return _load_bench().make_context(info_name, args, parent=parent, **extra)


def _bench_available() -> bool:
    from pathlib import Path

    if BENCH_MODULE in sys.modules:
        return True
    return (Path(__file__).resolve().parent.parent / "bench" / "cli.py").is_file()


def _load_bench() -> Any:
    """The ``bench`` group from the bench package, or a command explaining why it is missing."""
    try:
        import importlib

        bench_app = importlib.import_module(BENCH_MODULE).bench_app
        command = typer.main.get_group(bench_app)
    except Exception as exc:
        reason = one_line(exc)
        fallback = typer.Typer(add_completion=False)

        @fallback.command(
            name="bench",
            help="Benchmarks (unavailable in this installation).",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
        def unavailable(args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None) -> None:
            raise CliError(f"the bench commands could not be loaded ({reason}); install evermem-integrations[bench]")

        return typer.main.get_command(fallback)
    command.name = "bench"
    return command

"""The ``evermem`` command line (``evermem --help``); ``main`` is the console-script entry point."""

from evermem_integrations.cli.app import app


def main() -> None:
    """Run the ``evermem`` command line."""
    app(prog_name="evermem")


__all__ = ["app", "main"]

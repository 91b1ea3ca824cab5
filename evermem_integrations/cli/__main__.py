"""``python -m evermem_integrations.cli``."""

from evermem_integrations.cli import main

main()

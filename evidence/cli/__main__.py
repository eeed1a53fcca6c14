"""`python -m evidence.cli`: the same as the `evidence` command."""

from evidence.cli import main

main()

"""`python -m clanavi.cli`: the `clanavi` command."""

from clanavi.cli import main

main()

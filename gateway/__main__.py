"""`python -m gateway …` is the same CLI as the `spoedplein` console script."""

from gateway.cli import main

main()

"""`python3 -m drover_lab` is what lab/lab runs."""
from drover_lab.cli import main

main()

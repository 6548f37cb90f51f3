"""`python3 -m drover_lab` is what lab/lab runs."""
import sys

try:
    from drover_lab.cli import main
except ModuleNotFoundError as exc:
    if exc.name != "libvirt":
        raise
    sys.exit("lab: libvirt-python is missing; lab/lab runs the checkout's .venv (make venv) or python3")

main()

"""Stand-in for the get-pip.py bootstrap that ansible-test downloads from its own file host.

That host is unreachable from machines that only reach package registries, so `make sanity`
puts this file in ansible-test's cache instead: it installs pip with the standard library's
ensurepip, then runs `pip install` with the arguments ansible-test gave (packages from PyPI).
"""
import subprocess
import sys

ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + ARGS)

"""The collection's tarball as a release makes it: `ansible-galaxy collection build` from a copy of the checkout.

Shared by the packaging tests (what the tarball holds) and the ansible-runner test (a job that runs
the collection installed from it).
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Not copied from the checkout: big, a symlink loop (build/), or real lab secrets.
NOT_COPIED = {".git", ".venv", "build", "reports", ".pytest_cache", "__pycache__"}


def _ignore_for_copy(directory, names):
    ignored = {n for n in names if n in NOT_COPIED or n.endswith(".tar.gz")}
    if os.path.basename(directory) == "lab":
        ignored |= {n for n in names if n.startswith(".state") or n == ".cache"}
    return ignored


def tool(name):
    """The command `name` of the virtualenv running the tests, else the one on PATH."""
    beside_python = os.path.join(os.path.dirname(sys.executable), name)
    return beside_python if os.path.exists(beside_python) else shutil.which(name)


def without_ansible_settings(env=None):
    """The environment less ANSIBLE_* (a checkout's ansible.cfg and collections path), plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    clean.update(env or {})
    return clean


def copy_checkout(dest):
    """Copy the checkout to `dest`, without its git data, virtualenv, build/ link, caches and lab state."""
    shutil.copytree(ROOT, dest, symlinks=True, ignore=_ignore_for_copy)


def build_tarball(source, output):
    """Build the collection in `source` into `output`; return the tarball's path."""
    subprocess.run([tool("ansible-galaxy"), "collection", "build", source, "--output-path", output],
                   check=True, capture_output=True, text=True, cwd=output, env=without_ansible_settings())
    (name,) = [n for n in os.listdir(output) if n.endswith(".tar.gz")]
    return os.path.join(output, name)

import pytest

from labfixture import HOSTS, lab


@pytest.fixture(scope="module")
def lab_up():
    """A fresh lab for the test module: hv1..hv3, guests vm1 and vm2 running on hv1.

    Torn down afterwards whatever happened, so no test leaves namespaces or QEMU behind.
    """
    lab("down", check=False)
    proc = lab("up", "--hosts", str(len(HOSTS)), "--guests", "2", "--dirty-mb", "4", check=False)
    try:
        assert proc.returncode == 0, proc.stderr
        yield
    finally:
        lab("down", check=False)

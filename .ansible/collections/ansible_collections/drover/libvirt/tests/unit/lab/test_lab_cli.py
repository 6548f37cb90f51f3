"""The lab's command line: the options tests, docs and the Makefile use."""
from drover_lab.cli import parser


def test_guest_options():
    args = parser().parse_args(["guest", "web 01", "--host", "hv2", "--wait", "--tag", "pin", "--network", "a",
                                "--network", "b", "--storage", "local"])
    assert (args.command, args.name, args.host, args.wait, args.storage) == ("guest", "web 01", "hv2", True, "local")
    assert args.tag == ["pin"] and args.network == ["a", "b"] and args.cpu == "qemu64" and args.vcpus == 1


def test_exec_keeps_the_command():
    assert parser().parse_args(["exec", "hv2", "--", "virsh", "list", "--all"]).cmd == ["virsh", "list", "--all"]
    assert parser().parse_args(["exec", "hv2", "ip", "--", "x"]).cmd == ["ip", "--", "x"]


def test_up_defaults(monkeypatch):
    monkeypatch.setenv("DROVER_LAB_HOSTS", "4")
    monkeypatch.setenv("DROVER_LAB_GUESTS", "1")
    args = parser().parse_args(["up", "--no-wait"])
    assert (args.hosts, args.guests, args.memory, args.dirty_mb, args.wait) == (4, 1, 128, 4, False)

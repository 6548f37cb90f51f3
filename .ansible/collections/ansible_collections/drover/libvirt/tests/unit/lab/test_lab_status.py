"""The table `lab status` prints."""
from drover_lab.status import format_domains, status_lines


def host(name, domains, libvirtd=101, sshd=102):
    return {"host": name, "address": "10.251.0.%s" % name[2:], "libvirtd": libvirtd, "sshd": sshd,
            "domains": domains, "networks": {}}


def test_names_with_spaces_quotes_and_unicode_print_as_they_are():
    domains = {"web 01": "running", "it's \"q\"": "shut off", "ünïcødé 名前": "paused"}
    assert format_domains(domains) == "it's \"q\"(shut off) web 01(running) ünïcødé 名前(paused)"


def test_domains_are_sorted_by_name_and_none_is_a_dash():
    assert format_domains({"vm2": "running", "vm1": "shut off"}) == "vm1(shut off) vm2(running)"
    assert format_domains({}) == "-"


def test_one_line_per_host_in_columns():
    lines = status_lines([host("hv1", {"web 01": "running"}), host("hv2", {}, libvirtd=None, sshd=None)])
    assert lines == ["hv1  10.251.0.1    libvirtd=101     sshd=102     web 01(running)",
                     "hv2  10.251.0.2    libvirtd=down    sshd=down    -"]


def test_no_host_means_the_lab_is_down():
    assert status_lines([]) == ["lab is down"]

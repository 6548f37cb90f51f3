"""`lab status`: what each host runs, as a table or as JSON."""
import json
import os

import libvirt

from drover_lab.config import STATE, host_dir, host_ip, host_name, pid_alive
from drover_lab.virt import connect, state_name


def host_status(n):
    """{host, address, libvirtd, sshd, domains: {name: state}, networks: {name: active|inactive}} of host n."""
    d = host_dir(n)
    domains, networks = {}, {}
    try:
        with connect(n) as conn:
            for dom in sorted(conn.listAllDomains(0), key=lambda dom: dom.name()):
                domains[dom.name()] = state_name(dom)
            for network in sorted(conn.listAllNetworks(0), key=lambda network: network.name()):
                networks[network.name()] = "active" if network.isActive() else "inactive"
    except libvirt.libvirtError:
        pass  # libvirtd is down: shown as such, with nothing listed
    return {"host": host_name(n), "address": host_ip(n),
            "libvirtd": pid_alive(os.path.join(d, "run", "libvirtd.pid")),
            "sshd": pid_alive(os.path.join(d, "ssh", "sshd.pid")), "domains": domains, "networks": networks}


def status_json(hosts):
    return json.dumps({"hosts": hosts, "state": STATE}, indent=2)


def format_domains(domains):
    """'NAME(STATE) ...' sorted by name, each name exactly as libvirt has it; '-' when there is none."""
    return " ".join("%s(%s)" % kv for kv in sorted(domains.items())) or "-"


def status_lines(hosts):
    """The table `lab status` prints: one line per host, or 'lab is down'."""
    if not hosts:
        return ["lab is down"]
    return ["%-4s %-13s libvirtd=%-7s sshd=%-7s %s" % (h["host"], h["address"], h["libvirtd"] or "down",
                                                       h["sshd"] or "down", format_domains(h["domains"]))
            for h in hosts]

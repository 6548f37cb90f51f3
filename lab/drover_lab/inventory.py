"""The lab's hypervisors as an Ansible inventory (run by lab/inventory/lab_hosts): hv1..hvN at DROVER_LAB_NET.N.

N is the number of hosts `lab/lab up --hosts N` made (read from the lab's network namespaces),
3 when the lab is down, so playbooks, Molecule and the tests always see the lab as it is.
"""
import json
import sys

from drover_lab.config import host_ip, host_name, present_hosts

DEFAULT_HOSTS = 3


def inventory():
    try:
        numbers = present_hosts()
    except Exception:  # pylint: disable=broad-except  # no `ip` here: the lab cannot be up either
        numbers = []
    numbers = numbers or list(range(1, DEFAULT_HOSTS + 1))
    names = [host_name(n) for n in numbers]
    return {"hypervisors": {"hosts": names},
            "_meta": {"hostvars": {host_name(n): {"ansible_host": host_ip(n)} for n in numbers}}}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print(json.dumps({}))
    else:
        print(json.dumps(inventory(), indent=1))

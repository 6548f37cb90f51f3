# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of the libvirt connection every drover.libvirt module opens.
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt URI of the hypervisor the module works on.
      - The default reaches the libvirt daemon of the host the task runs on.
    type: str
    default: qemu:///system
  allow_insecure_transport:
    description:
      - Accept libvirt connections that are not secure - transport V(tcp) or a C(qemu+tcp://) URI (neither encrypted
        nor, unless the daemon requires SASL, authenticated), and URIs with C(no_verify=1),
        C(known_hosts_verify=ignore), C(command=) or C(netcat=) - for this module's own connection and every
        destination it reaches.
      - By default such a connection is refused before anything is opened, with a message naming the URI and why.
      - See C(docs/security.md).
    type: bool
    default: false
requirements:
  - libvirt-python on the host the task runs on
"""

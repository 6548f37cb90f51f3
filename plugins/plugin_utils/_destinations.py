# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How action plugins turn an inventory host name into the address of its libvirt daemon.

A host may set `drover_libvirt_uri` (its full libvirt URI) or `drover_libvirt_address` (the
address other hypervisors reach its libvirt daemon on); else its `ansible_host` is used.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations


def libvirt_address(name, hostvars, templar):
    """(address or URI, True) for an inventory host; (name, False) for anything else."""
    if not isinstance(name, str) or "://" in name or name not in hostvars:
        return name, False
    host = hostvars[name]
    uri = host.get("drover_libvirt_uri")
    address = host.get("drover_libvirt_address") or host.get("ansible_host") or name
    return templar.template(uri if uri else address), True

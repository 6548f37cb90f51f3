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
requirements:
  - libvirt-python on the host the task runs on
"""

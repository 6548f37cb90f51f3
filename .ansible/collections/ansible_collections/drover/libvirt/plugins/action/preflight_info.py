# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.preflight_info: lets O(destinations) name inventory hosts."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import DestinationAction


class ActionModule(DestinationAction):
    """Inventory host names become libvirt addresses; the names stay as labels in results."""

    MODULE = "drover.libvirt.preflight_info"
    _supports_async = False

    def resolve_args(self, args, task_vars, result):
        return self.resolve_list(args, "destinations", "destination_names", task_vars)

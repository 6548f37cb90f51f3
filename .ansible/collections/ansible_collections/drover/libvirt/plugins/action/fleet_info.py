# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.fleet_info: lets O(hosts) name inventory hosts."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import DestinationAction


class ActionModule(DestinationAction):
    """Inventory host names become libvirt addresses; the names stay as keys of the result."""

    MODULE = "drover.libvirt.fleet_info"
    _supports_async = False

    def resolve_args(self, args, task_vars, result):
        args = self.resolve_list(args, "hosts", "host_names", task_vars)
        if not args.get("local_name"):
            # The host the module runs on is the one the task is delegated to, if any.
            args["local_name"] = self._task.delegate_to or task_vars.get("inventory_hostname")
        return args

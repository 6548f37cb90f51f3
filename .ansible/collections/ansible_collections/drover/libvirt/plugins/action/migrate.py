# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.migrate: lets O(dest) name an inventory host."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import DestinationAction


class ActionModule(DestinationAction):
    MODULE = "drover.libvirt.migrate"

    def resolve_args(self, args, task_vars, result):
        address, resolved = self.address(args.get("dest"), task_vars)
        if resolved:
            result["dest_inventory_host"] = args["dest"]
            args["dest"] = address
        return args

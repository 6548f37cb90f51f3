# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.migration_job: lets O(dest) name an inventory host."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import DestinationAction


class ActionModule(DestinationAction):
    MODULE = "drover.libvirt.migration_job"

    def resolve_args(self, args, task_vars, result):
        if args.get("dest") is not None:
            args["dest"] = self.address(args["dest"], task_vars)[0]
        return args

# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.preflight_info: lets O(destinations) name inventory hosts."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import libvirt_address


class ActionModule(ActionBase):
    """Replace inventory host names in `destinations` by their libvirt addresses; keep the names as labels."""

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        dests = args.get("destinations")
        if isinstance(dests, str):
            dests = [d.strip() for d in dests.split(",") if d.strip()]
        if isinstance(dests, list) and not args.get("destination_names"):
            hostvars = task_vars.get("hostvars", {})
            args["destination_names"] = list(dests)
            args["destinations"] = [libvirt_address(d, hostvars, self._templar)[0] for d in dests]
        result.update(self._execute_module(module_name="drover.libvirt.preflight_info", module_args=args,
                                           task_vars=task_vars))
        return result

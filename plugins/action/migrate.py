# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.migrate: lets O(dest) name an inventory host."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import libvirt_address


class ActionModule(ActionBase):
    """Replace an inventory host name in `dest` by its libvirt address, then run the module."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        address, resolved = libvirt_address(args.get("dest"), task_vars.get("hostvars", {}), self._templar)
        if resolved:
            result["dest_inventory_host"] = args["dest"]
            args["dest"] = address
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name="drover.libvirt.migrate", module_args=args,
                                           task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            # an async job still needs its files; otherwise clean up like the normal action
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

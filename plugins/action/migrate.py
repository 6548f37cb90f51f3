# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.migrate: lets O(dest) name an inventory host."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """Replace an inventory host name in `dest` by its libvirt address, then run the module.

    A host may set `drover_libvirt_uri` (its full libvirt URI) or `drover_libvirt_address`
    (the address other hypervisors reach its libvirt daemon on); else its `ansible_host` is used.
    """

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        dest = args.get("dest")
        hostvars = task_vars.get("hostvars", {})
        if isinstance(dest, str) and "://" not in dest and dest in hostvars:
            host = hostvars[dest]
            uri = host.get("drover_libvirt_uri")
            address = host.get("drover_libvirt_address") or host.get("ansible_host") or dest
            args["dest"] = self._templar.template(uri if uri else address)
            result["dest_inventory_host"] = dest
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name="drover.libvirt.migrate", module_args=args,
                                           task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            # an async job still needs its files; otherwise clean up like the normal action
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

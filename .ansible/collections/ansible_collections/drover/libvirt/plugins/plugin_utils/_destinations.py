# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How action plugins turn an inventory host name into the address of its libvirt daemon.

A host may set `drover_libvirt_uri` (its full libvirt URI) or `drover_libvirt_address` (the
address other hypervisors reach its libvirt daemon on); else its `ansible_host` is used.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


def libvirt_address(name, hostvars, templar):
    """(address or URI, True) for an inventory host; (name, False) for anything else."""
    if not isinstance(name, str) or "://" in name or name not in hostvars:
        return name, False
    host = hostvars[name]
    uri = host.get("drover_libvirt_uri")
    address = host.get("drover_libvirt_address") or host.get("ansible_host") or name
    return templar.template(uri if uri else address), True


class DestinationAction(ActionBase):
    """Runs MODULE after resolve_args() replaced inventory host names by libvirt addresses."""

    MODULE = None
    _supports_check_mode = True
    _supports_async = True

    def resolve_args(self, args, task_vars, result):
        raise NotImplementedError

    def address(self, name, task_vars):
        return libvirt_address(name, task_vars.get("hostvars", {}), self._templar)

    def resolve_list(self, args, key, names_key, task_vars):
        """args[key] (a list, or names separated by commas) as addresses; the names given go to args[names_key]."""
        items = args.get(key)
        if isinstance(items, str):
            items = [i.strip() for i in items.split(",") if i.strip()]
        if isinstance(items, list) and not args.get(names_key):
            args[names_key] = list(items)
            args[key] = [self.address(i, task_vars)[0] for i in items]
        return args

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self.resolve_args(dict(self._task.args), task_vars, result)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars,
                                           wrap_async=wrap_async))
        if not wrap_async:
            # an async job still needs its files; otherwise clean up like the normal action
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

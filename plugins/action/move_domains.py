# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.move_domains: destinations may be inventory host names."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import libvirt_address


class ActionModule(ActionBase):
    """Resolve each move's destination and alternates to libvirt addresses, keeping the names."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        hostvars = task_vars.get("hostvars", {})
        moves = args.get("moves")
        if isinstance(moves, list):
            resolved = []
            for move in moves:
                if isinstance(move, dict) and isinstance(move.get("destination"), str):
                    move = dict(move)
                    move.setdefault("destination_name", move["destination"])
                    move["destination"] = libvirt_address(move["destination"], hostvars, self._templar)[0]
                    move["alternates"] = [
                        {"destination_name": alt, "destination": libvirt_address(alt, hostvars, self._templar)[0]}
                        if isinstance(alt, str) else alt for alt in move.get("alternates") or []]
                resolved.append(move)
            args["moves"] = resolved
        if not args.get("source_name"):
            args["source_name"] = task_vars.get("inventory_hostname")
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name="drover.libvirt.move_domains", module_args=args,
                                           task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

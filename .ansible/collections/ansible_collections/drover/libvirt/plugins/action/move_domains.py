# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.move_domains: destinations may be inventory host names."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.plugin_utils._destinations import DestinationAction


class ActionModule(DestinationAction):
    """Resolve each move's destination and alternates to libvirt addresses, keeping the names."""

    MODULE = "drover.libvirt.move_domains"

    def _target(self, name, task_vars):
        return {"destination_name": name, "destination": self.address(name, task_vars)[0]}

    def resolve_args(self, args, task_vars, result):
        moves = args.get("moves")
        if isinstance(moves, list):
            resolved = []
            for move in moves:
                if isinstance(move, dict) and isinstance(move.get("destination"), str):
                    move = dict(move)
                    move.update(self._target(move["destination"], task_vars) if "destination_name" not in move
                                else {"destination": self.address(move["destination"], task_vars)[0]})
                    move["alternates"] = [self._target(alt, task_vars) if isinstance(alt, str) else alt
                                          for alt in move.get("alternates") or []]
                resolved.append(move)
            args["moves"] = resolved
        if not args.get("source_name"):
            # The host the module runs on is the one the task is delegated to, if any.
            args["source_name"] = self._task.delegate_to or task_vars.get("inventory_hostname")
        return args

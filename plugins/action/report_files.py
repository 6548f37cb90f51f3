# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.report_files: writes report files on the controller, no module run."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.drover.libvirt.plugins.plugin_utils._report_files import ReportDirError, write_reports


class ActionModule(ActionBase):
    """Makes the directory and replaces each file whole, here on the controller."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _valid, args = self.validate_argument_spec(argument_spec=dict(
            dir=dict(type="path", required=True),
            files=dict(type="dict", default={}),
        ))
        try:
            written = write_reports(args["dir"], args["files"])
        except ReportDirError as exc:
            # A failed result, not an exception: the roles read it (failed_when: false) and say which variable.
            result.update(failed=True, changed=False, dir=args["dir"], msg=str(exc))
            return result
        result.update(changed=False, dir=args["dir"], written=written)
        return result

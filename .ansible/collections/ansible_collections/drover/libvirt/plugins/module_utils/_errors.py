# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own exception. Private to drover.libvirt; no compatibility promise."""

from __future__ import annotations


class DroverError(Exception):
    """A failure with a message a person can act on, plus structured details for the result."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

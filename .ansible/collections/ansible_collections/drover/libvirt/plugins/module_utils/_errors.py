# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own exception. Private to drover.libvirt; no compatibility promise."""

from __future__ import annotations

# Longest value quoted whole in a message; a longer one is cut and its length given.
_QUOTE_LIMIT = 100


class DroverError(Exception):
    """A failure with a message a person can act on, plus structured details for the result."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def quoted(value):
    """repr(value) for a message, cut after _QUOTE_LIMIT characters so a huge value cannot flood it."""
    if isinstance(value, str) and len(value) > _QUOTE_LIMIT:
        return "%s... (%d characters)" % (repr(value[:_QUOTE_LIMIT]), len(value))
    text = repr(value)
    if isinstance(value, int) and len(text) > _QUOTE_LIMIT:
        return "a %d-digit number" % len(text.lstrip("-"))
    if len(text) > _QUOTE_LIMIT:
        return "%s... (%d characters)" % (text[:_QUOTE_LIMIT], len(text))
    return text

# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore did, per domain, from the registered loop of moves home."""

from __future__ import annotations

DOCUMENTATION = r"""
name: restore_outcome
short_description: What the moves home did, per domain
version_added: 0.1.0
description:
  - From the registered results of M(drover.libvirt.move_domains) looped over the holders of
    P(drover.libvirt.restore_moves#filter), one result per domain, with counts and a line each.
  - A holder that answered no per-domain results (unreachable, or refused before moving) counts each of its domains
    V(failed) with the reason it gave; none of them moved.
options:
  _input:
    description: The C(results) list of the registered loop.
    type: list
    elements: dict
    required: true
author:
  - drover.libvirt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Count what came home
  ansible.builtin.debug:
    msg: "{{ (moved.results | drover.libvirt.restore_outcome).lines }}"
"""

RETURN = r"""
_value:
  description:
    - C(results) (RV(drover.libvirt.move_domains#module:results) entries, each with C(home), the host it was to
      reach), C(brief) (the same with name, from, to, home, status, error and downtime_ms only), C(moved) and
      C(failed) counts, C(lines).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._restore import restore_outcome as _outcome


def restore_outcome(loop_results):
    if not isinstance(loop_results, list):
        raise AnsibleFilterError("restore_outcome: the input must be the results list of a registered loop, got %s"
                                 % type(loop_results).__name__)
    try:
        return _outcome(loop_results)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("restore_outcome: malformed loop results (%r)" % (exc,)) from exc


class FilterModule:
    def filters(self):
        return {"restore_outcome": restore_outcome}

"""The shared argument specs match their sources of truth and their doc fragments, one to one."""

from __future__ import annotations

import yaml

from ansible_collections.drover.libvirt.plugins.doc_fragments.claims import ModuleDocFragment as Claims
from ansible_collections.drover.libvirt.plugins.doc_fragments.connection import ModuleDocFragment as Connection
from ansible_collections.drover.libvirt.plugins.doc_fragments.migration import ModuleDocFragment as Migration
from ansible_collections.drover.libvirt.plugins.module_utils import _argspec
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import PRESETS
from ansible_collections.drover.libvirt.plugins.module_utils._uri import TRANSPORTS


def test_choices_come_from_the_sources():
    assert set(_argspec.TRANSPORT["choices"]) == set(TRANSPORTS)
    assert _argspec.CONVERGENCE["choices"] == list(PRESETS)
    assert _argspec.CONVERGENCE["default"] in PRESETS


def _same(spec, fragment):
    documented = yaml.safe_load(fragment)["options"]
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name


def test_each_group_matches_its_doc_fragment():
    _same(_argspec.CONNECTION_ARGSPEC, Connection.DOCUMENTATION)
    _same(_argspec.MIGRATION_ARGSPEC, Migration.DOCUMENTATION)


def test_claims_suboptions_match_their_doc_fragment():
    spec = _argspec.CLAIMS_ARGSPEC["claims"]
    doc = yaml.safe_load(Claims.DOCUMENTATION)["options"]["claims"]
    assert doc["type"] == spec["type"]
    _same(spec["options"], yaml.safe_dump({"options": doc["suboptions"]}))

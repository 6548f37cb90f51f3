"""The built collection tarball ships what users need and nothing of the lab or a used checkout.

Builds with `ansible-galaxy collection build` from a copy of the checkout into which the leftovers
of a used one are planted first (lab state with private keys, caches), as a release from a
developer's checkout would see them.
"""
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest
import yaml

from collection_tarball import ROOT, build_tarball, copy_checkout, tool

# Spelled in two parts so that this file, which ships in the tarball, does not match its own scan.
PRIVATE_KEY_MARK = "PRIVATE" + " KEY"

# Leftovers of a used checkout, planted in the copy: path -> content.
PLANTED = {
    "lab/.state-x/ssh/id_ed25519": f"-----BEGIN OPENSSH {PRIVATE_KEY_MARK}-----\nfake\n",
    "lab/.state/pki/ca-key.pem": f"-----BEGIN RSA {PRIVATE_KEY_MARK}-----\nfake\n",
    ".pytest_cache/v/cache/lastfailed": "{}\n",
    "tests/unit/.pytest_cache/v/cache/nodeids": "[]\n",
    "plugins/filter/__pycache__/evacuation_plan.cpython-311.pyc": "fake bytecode\n",
    "reports/evacuate-hv1.json": "{}\n",
    "playbooks/reports/evacuation.html": "<!DOCTYPE html>\n",
    "tests/output/junit/x.xml": "<testsuites/>\n",
}

KEPT = [
    "plugins/modules/migrate.py",
    "roles/evacuate/tasks/main.yml",
    "playbooks/evacuate.yml",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "meta/ee-requirements.txt",
    "meta/ee-bindep.txt",
    "README.md",
    "COPYING",
    "changelogs/changelog.yaml",
    "MANIFEST.json",
]

# Top-level paths (or path prefixes) that must not ship.
DROPPED = ["lab", "ansible.cfg", "Makefile", ".ci", "requirements-dev.txt", "requirements-lab.txt", "extensions", "bench",
           "tests/integration", "tests/output", "reports", "playbooks/reports", "build", ".venv"]


@pytest.fixture(scope="module")
def tarball():
    if not os.path.exists(os.path.join(ROOT, "galaxy.yml")):
        pytest.skip("needs the source checkout (an installed collection has no galaxy.yml)")
    with tempfile.TemporaryDirectory(prefix="drover-pkg-") as tmp:
        source = os.path.join(tmp, "libvirt")
        copy_checkout(source)  # the fake leftovers below stand in for real ones
        for path, content in PLANTED.items():
            os.makedirs(os.path.dirname(os.path.join(source, path)), exist_ok=True)
            with open(os.path.join(source, path), "w", encoding="utf-8") as f:
                f.write(content)
        output = os.path.join(tmp, "out")
        os.mkdir(output)
        yield build_tarball(source, output)


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(tarball) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def test_no_private_key_in_any_file(members):
    leaking = [name for name, data in members.items() if data and PRIVATE_KEY_MARK.encode() in data]
    assert not leaking


@pytest.mark.parametrize("dropped", DROPPED)
def test_development_and_lab_paths_are_left_out(members, dropped):
    assert not [n for n in members if n == dropped or n.startswith(dropped + "/")]


def test_caches_are_left_out(members):
    parts = {part for name in members for part in name.split("/")}
    assert not parts & {".pytest_cache", "__pycache__", ".state", ".state-x"}
    assert not [n for n in members if n.endswith(".pyc")]


@pytest.mark.parametrize("kept", KEPT)
def test_what_users_need_is_inside(members, kept):
    assert members.get(kept)


# Execution environment: ansible-builder reads meta/execution-environment.yml of every collection it
# installs into an image. `ansible-builder introspect` and `create` run locally, without network.

def _ansible_builder(*args, cwd):
    return subprocess.run([tool("ansible-builder"), *args], check=True, capture_output=True, text=True, cwd=cwd)


def test_ee_definition_follows_the_v3_schema():
    from ansible_builder.ee_schema import validate_schema

    with open(os.path.join(ROOT, "meta", "execution-environment.yml"), encoding="utf-8") as f:
        definition = yaml.safe_load(f)
    validate_schema(definition)
    assert definition["version"] == 3


def test_ee_introspection_of_the_installed_collection(tarball, tmp_path):
    installed = tmp_path / "ansible_collections" / "drover" / "libvirt"
    installed.mkdir(parents=True)
    # The `filter` argument came with Python 3.11.4; Debian 12 has 3.11.2.
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(tarball) as tar:
        tar.extractall(installed, **safe)  # our own tarball, built above
    found = yaml.safe_load(_ansible_builder("introspect", "--sanitize", str(tmp_path), cwd=tmp_path).stdout)
    # The controller side only: libvirt-python belongs on the hypervisors, not in the image.
    assert [line.split()[0] for line in found["python"]] == ["jmespath>=1.0.0"]
    assert sorted(line.split("#")[0].strip() for line in found["system"]) == [
        "openssh-client [platform:dpkg]", "openssh-clients [platform:rpm]"]


def test_ee_build_context_for_an_image_with_the_collection(tarball, tmp_path):
    """The shape an AWX user's definition takes: the collection under `galaxy`, no other deps."""
    shutil.copy(tarball, tmp_path)
    name = os.path.basename(tarball)
    definition = {
        "version": 3,
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core>=2.19,<2.20"},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": f"collections/{name}", "type": "file"}]},
        },
        "additional_build_files": [{"src": name, "dest": "collections"}],
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition), encoding="utf-8")
    _ansible_builder("create", "-f", "execution-environment.yml", "-c", "context", cwd=tmp_path)
    assert (tmp_path / "context" / "_build" / "collections" / name).is_file()
    assert "ansible-galaxy collection install" in (tmp_path / "context" / "Dockerfile").read_text()

# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report files on the controller: made, replaced whole, refused with the reason."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.drover.libvirt.plugins.plugin_utils._report_files import ReportDirError, write_reports


def test_the_directory_is_made_and_every_file_written_in_order(tmp_path):
    target = tmp_path / "reports" / "run-1"
    written = write_reports(str(target), {"evacuation.json": "{}\n", "evacuation.html": "<p>é</p>"})
    assert written == [str(target / "evacuation.json"), str(target / "evacuation.html")]
    assert (target / "evacuation.html").read_text(encoding="utf-8") == "<p>é</p>"
    assert stat.S_IMODE(os.stat(target / "evacuation.json").st_mode) == 0o644
    assert sorted(os.listdir(target)) == ["evacuation.html", "evacuation.json"]  # no temporary file left


def test_a_report_is_replaced_whole_and_a_link_in_its_place_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("keep\n")
    (tmp_path / "evacuation.json").symlink_to(elsewhere)
    write_reports(str(tmp_path), {"evacuation.json": "new\n"})
    assert not os.path.islink(tmp_path / "evacuation.json")
    assert (tmp_path / "evacuation.json").read_text() == "new\n" and elsewhere.read_text() == "keep\n"


@pytest.mark.parametrize("name", ["../escape.json", "a/b.json", "", ".."])
def test_a_name_that_is_not_a_plain_file_name_is_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(ReportDirError) as err:
        write_reports(str(tmp_path / "reports"), {"ok.json": "{}", name: "x"})
    assert "plain file name" in str(err.value)
    assert not (tmp_path / "reports").exists()


def test_a_file_in_the_way_or_a_read_only_directory_is_refused_with_the_reason(tmp_path):
    (tmp_path / "reports").write_text("not a directory\n")
    with pytest.raises(ReportDirError) as err:
        write_reports(str(tmp_path / "reports"), {})
    assert str(err.value) == "%s exists and is not a directory" % (tmp_path / "reports")
    with pytest.raises(ReportDirError) as err:
        write_reports(str(tmp_path / "reports" / "below"), {})
    assert "cannot make" in str(err.value)


def test_content_must_be_text(tmp_path):
    with pytest.raises(ReportDirError) as err:
        write_reports(str(tmp_path), {"a.json": {"not": "text"}})
    assert "must be text, got dict" in str(err.value)


def test_nothing_is_replaced_when_one_content_is_not_text(tmp_path):
    (tmp_path / "a.json").write_text("old\n")
    with pytest.raises(ReportDirError):
        write_reports(str(tmp_path), {"a.json": "new\n", "b.json": ["not", "text"]})
    assert (tmp_path / "a.json").read_text() == "old\n"

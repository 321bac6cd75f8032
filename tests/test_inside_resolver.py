"""InsideResolver: the fast path check fix recipes use to read thousands of code files safely."""

from __future__ import annotations

import os
import shutil

from loaders.tree import InsideResolver, resolve_inside


def _tree(tmp_path):
    root = tmp_path / "logs"
    day = root / "failures" / "2025-12-01"
    day.mkdir(parents=True)
    (day / "a.json").write_text("{}")
    outside = tmp_path / "outside" / "2025-12-01"
    outside.mkdir(parents=True)
    (outside / "a.json").write_text('{"secret": 1}')
    return root.resolve(), day, outside


def test_a_file_inside_resolves_like_resolve_inside(tmp_path):
    root, day, _ = _tree(tmp_path)
    resolver = InsideResolver(root)
    path = day / "a.json"
    assert resolver.resolve(path) == resolve_inside(root, path) == path.resolve()
    assert resolver.resolve(path) == path.resolve()  # the second time from the remembered directory


def test_a_directory_swapped_for_a_link_after_first_use_is_refused(tmp_path):
    root, day, outside = _tree(tmp_path)
    resolver = InsideResolver(root)
    assert resolver.resolve(day / "a.json") is not None
    shutil.rmtree(day)
    os.symlink(outside, day)
    assert resolver.resolve(day / "a.json") is None


def test_a_parent_directory_swapped_for_a_link_is_refused(tmp_path):
    root, day, outside = _tree(tmp_path)
    resolver = InsideResolver(root)
    assert resolver.resolve(day / "a.json") is not None
    shutil.rmtree(root / "failures")
    os.symlink(outside.parent, root / "failures")
    assert resolver.resolve(day / "a.json") is None


def test_links_to_files_follow_the_full_check(tmp_path):
    root, day, outside = _tree(tmp_path)
    resolver = InsideResolver(root)
    os.symlink(outside / "a.json", day / "out.json")
    os.symlink(day / "a.json", day / "in.json")
    assert resolver.resolve(day / "out.json") is None
    assert resolver.resolve(day / "in.json") == (day / "a.json").resolve()


def test_odd_and_missing_paths(tmp_path):
    root, day, _ = _tree(tmp_path)
    resolver = InsideResolver(root)
    assert resolver.resolve(day / "gone.json") == (day / "gone.json").resolve()  # reading it then fails
    assert resolver.resolve(str(day / "a\x00.json")) is None
    assert resolver.resolve(tmp_path / "outside" / "2025-12-01" / "a.json") is None
    assert resolver.resolve(root / ".." / "outside" / "2025-12-01" / "a.json") is None

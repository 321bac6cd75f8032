"""InsideOpener: how fix recipes open thousands of code files of a tree, never one outside it."""

from __future__ import annotations

import math
import os
import shutil
import threading

import pytest

from loaders.core.files import READ_FLAGS
from loaders.ingest.code_changes import read_tree_record
from loaders.ingest.tree import InsideOpener


def _tree(tmp_path):
    root = tmp_path / "logs"
    day = root / "failures" / "2025-12-01"
    day.mkdir(parents=True)
    (day / "a.json").write_text('{"inside": 1}')
    outside = tmp_path / "outside" / "2025-12-01"
    outside.mkdir(parents=True)
    (outside / "a.json").write_text('{"secret": 1}')
    return root.resolve(), day, outside


def _read(opener: InsideOpener, path) -> bytes | None:
    descriptor = opener.open(path, READ_FLAGS)
    if descriptor is None:
        return None
    try:
        return os.read(descriptor, 1000)
    finally:
        os.close(descriptor)


def test_a_file_inside_is_opened_from_its_kept_directory(tmp_path):
    root, day, _ = _tree(tmp_path)
    opener = InsideOpener(root)
    assert _read(opener, day / "a.json") == b'{"inside": 1}'
    assert _read(opener, str(day / "a.json")) == b'{"inside": 1}'  # the second time from the kept descriptor
    opener.close()
    assert _read(opener, day / "a.json") == b'{"inside": 1}'  # opened again after close


def test_a_directory_swapped_for_a_link_after_first_use_is_refused(tmp_path):
    root, day, outside = _tree(tmp_path)
    opener = InsideOpener(root)
    assert _read(opener, day / "a.json") is not None
    shutil.rmtree(day)
    os.symlink(outside, day)
    assert _read(opener, day / "a.json") is None


def test_a_kept_directory_moved_out_of_the_tree_and_linked_back_is_refused(tmp_path):
    """Moved, the directory keeps its identity: what decides is where the kept descriptor is now."""
    root, day, _ = _tree(tmp_path)
    opener = InsideOpener(root)
    assert _read(opener, day / "a.json") == b'{"inside": 1}'
    moved = tmp_path / "moved-out"
    day.rename(moved)
    os.symlink(moved, day)
    (moved / "a.json").write_text('{"outside": 1}')
    assert _read(opener, day / "a.json") is None


def test_a_parent_directory_swapped_for_a_link_is_refused(tmp_path):
    root, day, outside = _tree(tmp_path)
    opener = InsideOpener(root)
    assert _read(opener, day / "a.json") is not None
    shutil.rmtree(root / "failures")
    os.symlink(outside.parent, root / "failures")
    assert _read(opener, day / "a.json") is None


def test_a_directory_replaced_by_a_new_one_is_read_anew(tmp_path):
    root, day, _ = _tree(tmp_path)
    opener = InsideOpener(root)
    assert _read(opener, day / "a.json") == b'{"inside": 1}'
    shutil.rmtree(day)
    day.mkdir()
    (day / "a.json").write_text('{"new": 2}')
    assert _read(opener, day / "a.json") == b'{"new": 2}'


def test_links_to_files_follow_the_full_check(tmp_path):
    root, day, outside = _tree(tmp_path)
    opener = InsideOpener(root)
    os.symlink(outside / "a.json", day / "out.json")
    os.symlink(day / "a.json", day / "in.json")
    assert _read(opener, day / "out.json") is None
    assert _read(opener, day / "in.json") == b'{"inside": 1}'


def test_odd_and_missing_paths(tmp_path):
    root, day, _ = _tree(tmp_path)
    opener = InsideOpener(root)
    with pytest.raises(FileNotFoundError):
        opener.open(day / "gone.json", READ_FLAGS)
    assert opener.open(str(day / "a\x00.json"), READ_FLAGS) is None
    assert opener.open(tmp_path / "outside" / "2025-12-01" / "a.json", READ_FLAGS) is None
    assert opener.open(root / ".." / "outside" / "2025-12-01" / "a.json", READ_FLAGS) is None
    read = read_tree_record(str(root))
    assert read(str(day / "gone.json")) is None
    assert read(str(day / "a.json")) == {"inside": 1}
    assert read(str(tmp_path / "outside" / "2025-12-01" / "a.json")) is None


def test_more_directories_than_kept_and_many_threads(tmp_path):
    """Descriptors beyond MAX_DIRECTORIES are closed oldest first; threads sharing the opener all read right."""
    root = (tmp_path / "logs").resolve()
    count = InsideOpener.MAX_DIRECTORIES + 20
    assert math.gcd(5, count) == 1
    for number in range(count):
        folder = root / "failures" / f"day-{number}"
        folder.mkdir(parents=True)
        (folder / "a.json").write_text(f'{{"n": {number}}}')
    opener = InsideOpener(root)
    wrong: list[int] = []

    def read_all(offset: int) -> None:
        for step in range(count * 3):
            number = (step * 5 + offset) % count  # 5 is coprime with count: every directory in turn
            if _read(opener, root / "failures" / f"day-{number}" / "a.json") != f'{{"n": {number}}}'.encode():
                wrong.append(number)

    threads = [threading.Thread(target=read_all, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(opener._directories) == InsideOpener.MAX_DIRECTORIES
    opener.close()
    assert len(opener._directories) == 0

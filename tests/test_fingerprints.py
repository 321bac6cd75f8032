"""Fingerprints that hold on real error text: values masked, the names that are the mistake kept."""

from __future__ import annotations

import pytest

from loaders.text.error_text import error_signature, fingerprint


@pytest.mark.parametrize(
    ("line", "signature"),
    [
        ("ModuleNotFoundError: No module named 'cv2'", "ModuleNotFoundError: No module named 'cv2'"),
        (
            "AttributeError: 'MapsBridge' object has no attribute 'GetChannels'",
            "AttributeError: 'MapsBridge' object has no attribute 'GetChannels'",
        ),
        ("TypeError: cannot cast 'np.float64' to 'int'", "TypeError: cannot cast 'np.float64' to 'int'"),
        (
            "FileNotFoundError: [Errno 2] No such file: 'tile_17.png'",
            "FileNotFoundError: [Errno <n>] No such file: <value>",
        ),
        ("KeyError: 'user_1234'", "KeyError: <value>"),
        ("KeyError: 'name'", "KeyError: 'name'"),
        ("ValueError: job 3f2a9c1e-1b2c-4d5e-8f90-123456789abc failed", "ValueError: job <uuid> failed"),
        ("ValueError: stale since 2025-12-21T11:56:53.668098+01:00", "ValueError: stale since <datetime>"),
        ("ValueError: stale since 2025-12-21", "ValueError: stale since <datetime>"),
        ("TimeoutError: at 11:55:19 no answer", "TimeoutError: at <time> no answer"),
        ("ConnectionError: cannot reach 10.0.0.12:8080", "ConnectionError: cannot reach <ip>"),
        ("HTTPError: 404 for https://maps.example.com/tiles/17?x=1", "HTTPError: <n> for <url>"),
        ("PermissionError: user ops.team+maps@example.org denied", "PermissionError: user <email> denied"),
        ("RuntimeError: token deadbeef12 at 0x7fff5a", "RuntimeError: token <hex> at <addr>"),
        ("OverflowError: 123456789012 too large", "OverflowError: <n> too large"),
        ('File "/tmp/job/script.py", line 14', "File <value>, line <n>"),
    ],
)
def test_signature_masks_values_and_keeps_names(line, signature):
    assert error_signature(line) == signature


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("KeyError: 'tile_17.png'", "KeyError: 'tile_18.png'", True),
        ("KeyError: 'user_1234'", "KeyError: 'user_99871'", True),
        ("ValueError: run 2025-12-01 failed", "ValueError: run 2026-01-31 failed", True),
        ("ModuleNotFoundError: No module named 'cv2'", "ModuleNotFoundError: No module named 'skimage'", False),
        ("AttributeError: no attribute 'GetChannels'", "AttributeError: no attribute 'SendTileOutput'", False),
    ],
)
def test_fingerprints_group_what_differs_only_in_values(first, second, same):
    assert (fingerprint(error_signature(first)) == fingerprint(error_signature(second))) is same

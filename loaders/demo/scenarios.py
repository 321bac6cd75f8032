"""The mistakes the demo generator makes, each with the code that fails and the code that fixes it.

Each scenario is a realistic failure of an image-processing script as the service's model writes
them (MapsBridge is the service's own bridge module), with the stderr it produces and the change
that fixed it, so the learning loop has real recipes to find.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = '''"""{prompt}"""
import json
import sys

import numpy as np
from MapsBridge import MapsBridge
'''

LOAD_INPUT = """
bridge = MapsBridge.FromStdIn()
request = bridge.request
image_name = request.ImageFileNames['0']
image = bridge.LoadImage(image_name)
rgb_array = np.asarray(image, dtype=np.float32)
"""

SAVE_OUTPUT = """
out = np.clip(result, 0, 255).astype(np.uint8)
bridge.SendSingleTileOutput(out, name="{output}")
print(json.dumps({{"status": "ok", "shape": list(out.shape)}}))
"""


@dataclass(frozen=True)
class Scenario:
    """One kind of failure: what the failing code does, what stderr says, and the fix."""

    name: str
    failing_body: str
    fixed_body: str
    error_line: str
    traceback_line: str
    extra_imports_failing: str = ""
    extra_imports_fixed: str = ""
    no_traceback: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "cv2_missing",
        "result = cv2.GaussianBlur(rgb_array, (5, 5), 0)\n",
        "result = gaussian(rgb_array, sigma=1.5, channel_axis=-1, preserve_range=True)\n",
        "ModuleNotFoundError: No module named 'cv2'",
        "import cv2",
        extra_imports_failing="import cv2\n",
        extra_imports_fixed="from skimage.filters import gaussian\n",
    ),
    Scenario(
        "undefined_name",
        "result = rgb_arr * 1.2\n",
        "result = rgb_array * 1.2\n",
        "NameError: name 'rgb_arr' is not defined",
        "result = rgb_arr * 1.2",
    ),
    Scenario(
        "renamed_output",
        "result = rgb_array\nbridge.SendTileOutput(result)\n",
        "result = rgb_array\n",
        "AttributeError: 'MapsBridge' object has no attribute 'SendTileOutput'",
        "bridge.SendTileOutput(result)",
    ),
    Scenario(
        "integer_key",
        "second = bridge.LoadImage(request.ImageFileNames[0])\nresult = (rgb_array + np.asarray(second)) / 2\n",
        "second = bridge.LoadImage(request.ImageFileNames['0'])\nresult = (rgb_array + np.asarray(second)) / 2\n",
        "KeyError: 0",
        "second = bridge.LoadImage(request.ImageFileNames[0])",
    ),
    Scenario(
        "str_plus_int",
        "label = 'tile_' + request.TileIndex\nresult = rgb_array\n",
        "label = f'tile_{request.TileIndex}'\nresult = rgb_array\n",
        'TypeError: can only concatenate str (not "int") to str',
        "label = 'tile_' + request.TileIndex",
    ),
    Scenario(
        "broadcast",
        "mask = rgb_array[..., 0] > 128\nresult = rgb_array * mask\n",
        "mask = rgb_array[..., 0] > 128\nresult = rgb_array * mask[..., None]\n",
        "ValueError: operands could not be broadcast together with shapes (512,512,3) (512,512)",
        "result = rgb_array * mask",
    ),
    Scenario(
        "missing_file",
        "lut = np.load('/data/luts/viridis_512.npy')\nresult = lut[rgb_array.astype(int)[..., 0]]\n",
        "result = rgb_array[..., ::-1]\n",
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/luts/viridis_512.npy'",
        "lut = np.load('/data/luts/viridis_512.npy')",
    ),
    Scenario(
        "write_denied",
        "np.save('/opt/maps/cache/last.npy', rgb_array)\nresult = rgb_array\n",
        "result = rgb_array\n",
        "PermissionError: [Errno 13] Permission denied: '/opt/maps/cache/last.npy'",
        "np.save('/opt/maps/cache/last.npy', rgb_array)",
    ),
    Scenario(
        "slow_loop",
        "result = rgb_array.copy()\nfor y in range(result.shape[0]):\n    for x in range(result.shape[1]):\n"
        "        result[y, x] = np.median(rgb_array[max(0, y - 7):y + 8, max(0, x - 7):x + 8], axis=(0, 1))\n",
        "result = median_filter(rgb_array, size=(15, 15, 1))\n",
        "Script timed out after 60 seconds",
        "",
        extra_imports_fixed="from scipy.ndimage import median_filter\n",
        no_traceback=True,
    ),
    Scenario(
        "huge_array",
        "grid = np.zeros((40000, 40000, 3), dtype=np.float64)\nresult = rgb_array\n",
        "result = rgb_array\n",
        "MemoryError: Unable to allocate 35.8 GiB for an array with shape (40000, 40000, 3) and data type float64",
        "grid = np.zeros((40000, 40000, 3), dtype=np.float64)",
    ),
    Scenario(
        "bad_syntax",
        "result = rgb_array * [1.0, 0.9, 0.8\n",
        "result = rgb_array * np.array([1.0, 0.9, 0.8])\n",
        "SyntaxError: '[' was never closed",
        "result = rgb_array * [1.0, 0.9, 0.8",
    ),
    Scenario(
        "tile_index",
        "tiles = np.array_split(rgb_array, 3)\nresult = tiles[3]\n",
        "tiles = np.array_split(rgb_array, 3)\nresult = tiles[-1]\n",
        "IndexError: list index out of range",
        "result = tiles[3]",
    ),
    Scenario(
        "divide_by_zero",
        "span = int(rgb_array.max() - rgb_array.max())\nresult = rgb_array // span\n",
        "span = float(rgb_array.max() - rgb_array.min()) or 1.0\nresult = (rgb_array - rgb_array.min()) / span * 255\n",
        "ZeroDivisionError: integer division or modulo by zero",
        "result = rgb_array // span",
    ),
    Scenario(
        "stdin_json",
        "request = json.loads(sys.stdin.readline())\nresult = rgb_array\n",
        "result = rgb_array\n",
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        "request = json.loads(sys.stdin.readline())",
    ),
)

PROMPTS: tuple[str, ...] = (
    "Apply a Gaussian blur to the satellite tile",
    "Enhance the contrast of the aerial image",
    "Highlight vegetation using the green channel",
    "Convert the map tile to grayscale",
    "Detect edges in the orthophoto",
    "Create a heat map overlay from the red band",
    "Sharpen the drone survey image",
    "Normalise brightness across the tile set",
    "Mask out clouds above 200 brightness",
    "Blend the two input layers 50/50",
)

MODELS: tuple[tuple[str, float], ...] = (
    # (model, share of first attempts that fail)
    ("gemini-2.5-flash-lite", 0.55),
    ("gemini-2.5-pro", 0.30),
    ("gpt-4.1-mini", 0.45),
    ("claude-sonnet-4", 0.25),
)

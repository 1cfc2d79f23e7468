"""Read a QR code back from what the CLI printed, as a phone would see it.

The printed code is Unicode half blocks (two module rows per text line),
maybe wrapped in ANSI colours. We rebuild the module grid as it looks on a
terminal with a dark or light background, check its polarity and quiet zone
directly (so that a decoder that also tries inverted images cannot hide a
wrong polarity), then render it to pixels with a margin of the terminal's
background and decode it with zxing-cpp.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

try:
    import zxingcpp
except ImportError as e:  # a test-only dependency: say how to get it
    raise ImportError("the CLI tests need pexpect and zxing-cpp: "
                      "pip install -r sdk/python/requirements-test.txt") from e

SGR_START = re.compile(r"^\x1b\[([0-9;]*)m")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HALF_BLOCKS = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
LIGHT, DARK = 255, 0
QUIET = 4


class QRReadError(AssertionError):
    pass


def _screen_lines(text: str) -> List[str]:
    """Lines as a terminal shows them: a carriage return rewrites the line."""
    lines = []
    for raw in text.split("\n"):
        raw = raw.rstrip("\r")
        lines.append(raw.rsplit("\r", 1)[-1])
    return lines


def last_printed_qr(text: str) -> Tuple[List[str], Optional[str]]:
    """The last block of half-block lines, and the SGR codes that coloured it."""
    blocks: List[Tuple[List[str], Optional[str]]] = []
    current: List[str] = []
    colour: Optional[str] = None
    for line in _screen_lines(text):
        m = SGR_START.match(line)
        plain = ANSI.sub("", line)
        # All-space lines count too: an inverted code's quiet zone is blank.
        is_qr = len(plain) >= 21 and set(plain) <= set(HALF_BLOCKS)
        if is_qr:
            if not current:
                colour = m.group(1) if m else None
            current.append(plain)
        elif current:
            blocks.append((current, colour))
            current = []
    if current:
        blocks.append((current, colour))
    blocks = [b for b in blocks if any(ln.strip() for ln in b[0])]
    if not blocks:
        raise QRReadError(f"no QR code in the output:\n{text}")
    return blocks[-1]


def _colours(sgr: Optional[str], background: str) -> Tuple[int, int]:
    """(ink, gap) pixel values: what █ and a space look like on this terminal."""
    terminal_bg = DARK if background == "dark" else LIGHT
    terminal_fg = LIGHT if background == "dark" else DARK
    if sgr is None:
        return terminal_fg, terminal_bg
    codes = {int(c) for c in sgr.split(";") if c}
    ink = LIGHT if codes & {97, 37} else DARK if codes & {30, 90} else terminal_fg
    gap = DARK if codes & {40, 100} else LIGHT if codes & {107, 47} else terminal_bg
    return ink, gap


def module_grid(lines: List[str], ink: int, gap: int) -> List[List[int]]:
    width = max(len(ln) for ln in lines)
    grid: List[List[int]] = []
    for ln in lines:
        top, bottom = [], []
        for ch in ln.ljust(width):
            t, b = HALF_BLOCKS[ch]
            top.append(ink if t else gap)
            bottom.append(ink if b else gap)
        grid += [top, bottom]
    return grid


def check_polarity(grid: List[List[int]]) -> None:
    """Dark modules on light, with a light quiet zone of at least 4 modules,
    as a phone's camera needs. The bottom row may be a half line of padding."""
    h, w = len(grid), len(grid[0])
    for name, cells in (
        ("top", [grid[r][c] for r in range(QUIET) for c in range(w)]),
        ("left", [grid[r][c] for r in range(h) for c in range(QUIET)]),
        ("right", [grid[r][c] for r in range(h) for c in range(w - QUIET, w)]),
        ("bottom", [grid[r][c] for r in range(h - QUIET, h) for c in range(w)]),
    ):
        if any(v != LIGHT for v in cells):
            raise QRReadError(f"the {name} quiet zone is not light: wrong polarity or no "
                              "quiet zone")
    if grid[QUIET][QUIET] != DARK:
        raise QRReadError("the finder pattern's corner is not dark: the code is inverted")


def decode_grid(grid: List[List[int]], background: str, scale: int = 4, margin: int = 8) -> str:
    """Render the modules with a margin of the terminal's background and decode."""
    h, w = len(grid), len(grid[0])
    bg = DARK if background == "dark" else LIGHT
    width, height = (w + 2 * margin) * scale, (h + 2 * margin) * scale
    pixels = bytearray([bg]) * (width * height)
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            if value == bg:
                continue
            for dy in range(scale):
                start = ((r + margin) * scale + dy) * width + (c + margin) * scale
                pixels[start:start + scale] = bytes([value]) * scale
    image = memoryview(pixels).cast("B", (height, width))
    kwargs = {"formats": zxingcpp.BarcodeFormat.QRCode, "try_rotate": False}
    try:
        found = zxingcpp.read_barcodes(image, try_invert=False, **kwargs)
    except TypeError:  # zxing-cpp < 2.3 on Python 3.9 has no try_invert
        found = zxingcpp.read_barcodes(image, **kwargs)
    if len(found) != 1:
        raise QRReadError(f"expected one QR code, decoded {len(found)}")
    return found[0].text


def decode_printed_qr(text: str, background: str = "dark") -> str:
    """The URL in the last QR code the CLI printed, seen on a `background`
    ("dark" or "light") terminal."""
    lines, sgr = last_printed_qr(text)
    ink, gap = _colours(sgr, background)
    grid = module_grid(lines, ink, gap)
    check_polarity(grid)
    return decode_grid(grid, background)


def printed_width(text: str) -> int:
    lines, _ = last_printed_qr(text)
    return max(len(ln) for ln in lines)

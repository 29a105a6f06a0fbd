"""Read the text of a screenshot (an SMS, a chat) with RapidOCR; its models ship inside the package."""

from __future__ import annotations

import io
import logging
import threading
import warnings
from typing import Any

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""Larger files are refused unread (Telegram's own photo limit is 10 MB)."""
MAX_PIXELS = 40_000_000
"""Images with more pixels are refused before decoding (a decompression bomb guard)."""
MAX_SIDE = 2000
"""Longer sides are scaled down to this before OCR (RapidOCR's own working limit)."""
SHORT_SIDE = 720
"""Images whose shorter side is longer are scaled down to it first: detection costs go with the pixel count,
while recognition scales each line to 48 px high anyway. A 1080 px wide SMS screenshot: p50 0.54 s instead of
1.94 s on one core, character accuracy 98.7 % instead of 98.6 % (95 held-out SMS, bench_telegram.py)."""
MIN_SIDE = 8
"""Images smaller than this in either direction hold no readable text."""
OCR_THREADS = 1
"""ONNX Runtime threads per inference: one, so a screenshot never starves the intent model of a core."""

_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


def _load_engine() -> Any:
    """Create the RapidOCR engine once (about 0.3 s; the models are files inside the package)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR(
                intra_op_num_threads=OCR_THREADS,
                inter_op_num_threads=OCR_THREADS,
                use_cls=False,  # screenshots are upright: the 180° line classifier only costs time
                rec_batch_num=1,  # one line per run: ~3× faster on one core than padded batches of 6
                det_limit_type="max",  # never enlarge an image for detection (the default "min" does)
            )
    return _engine


def warm_up() -> None:
    """Load the OCR engine now instead of on the first screenshot."""
    _load_engine()


def _decode(image: bytes) -> Any:
    """Decode, orient, flatten and downscale an image to a BGR array, or return None if it is unusable."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image)) as img:
                if img.width * img.height > MAX_PIXELS:
                    return None
                img.load()
                pic = ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    if min(pic.size) < MIN_SIDE:
        return None
    if pic.mode in ("RGBA", "LA", "P", "PA"):
        rgba = pic.convert("RGBA")
        pic = Image.new("RGB", rgba.size, "white")
        pic.paste(rgba, mask=rgba.getchannel("A"))
    elif pic.mode != "RGB":
        pic = pic.convert("RGB")
    if max(pic.size) > MAX_SIDE:
        pic.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if min(pic.size) > SHORT_SIDE:
        scale = SHORT_SIDE / min(pic.size)
        size = (max(1, round(pic.width * scale)), max(1, round(pic.height * scale)))
        pic = pic.resize(size, Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(pic)[:, :, ::-1])


def read_text(image: bytes) -> str:
    """Return the text lines found in an image, top to bottom; "" for a corrupt, huge or textless image."""
    if not image or len(image) > MAX_IMAGE_BYTES:
        return ""
    array = _decode(image)
    if array is None:
        return ""
    engine = _load_engine()
    try:
        with _run_lock:  # one inference at a time: parallel runs only fight over the same two cores
            result, _ = engine(array)
    except Exception as exc:  # a bad image must never take the bot down
        log.warning("OCR failed on an image: %s", type(exc).__name__)
        return ""
    if not result:
        return ""
    return join_lines([(_box(line[0]), str(line[1]).strip()) for line in result if str(line[1]).strip()])


Box = tuple[float, float, float, float]
"""left, top, right, bottom of a detected text line."""


def _box(points: Any) -> Box:
    """Bounding box of a detected line's four corner points."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _is_cjk(ch: str) -> bool:
    """Whether a character is Chinese (or CJK punctuation / full-width), written without spaces."""
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" or ch in "【】"


PARAGRAPH_GAP = 0.8
"""Lines closer than this many line heights, and starting at about the same x, are one wrapped paragraph."""


def join_lines(lines: list[tuple[Box, str]]) -> str:
    """Rejoin lines that a bubble wrapped (no space between Chinese, a space between words); else newline."""
    out = ""
    previous: Box | None = None
    for box, text in lines:
        if previous is None:
            out = text
        else:
            height = max(previous[3] - previous[1], box[3] - box[1], 1.0)
            gap = box[1] - previous[3]
            aligned = abs(box[0] - previous[0]) <= height
            if 0 <= gap < PARAGRAPH_GAP * height and aligned:
                glue = "" if _is_cjk(out[-1]) or _is_cjk(text[0]) else " "
                out += glue + text
            else:
                out += "\n" + text
        previous = box
    return out

"""A screenshot of an SMS is read back as text; broken or oversized images give no text, never a crash."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.ocr import MAX_IMAGE_BYTES, read_text
from tests.fake_bot_api import find_cjk_font, render_screenshot

CJK_FONT = find_cjk_font()


@pytest.mark.skipif(CJK_FONT is None, reason="no Chinese font (apt-get install fonts-wqy-microhei; `make setup` does)")
def test_a_chinese_sms_screenshot_is_read_as_one_paragraph() -> None:
    sms = "【某贷】您已逾期，我司将通知您的家人和单位。"
    text = read_text(render_screenshot(sms, font_path=CJK_FONT))
    assert sms in text.replace(" ", "")


def test_an_english_screenshot_is_read_with_the_default_font() -> None:
    sms = "We will visit your home and tell your employer tomorrow."
    text = read_text(render_screenshot(sms, when="23:41", font_path=None))
    assert "visit your home" in text


def test_empty_corrupt_huge_or_blank_images_give_empty_text() -> None:
    assert read_text(b"") == ""
    assert read_text(b"\x89PNG\r\n\x1a\n garbage") == ""
    assert read_text(b"\0" * (MAX_IMAGE_BYTES + 1)) == ""
    buf = io.BytesIO()
    Image.new("RGB", (30_000, 30_000), "white").save(buf, "PNG")  # 900 Mpx: refused before decoding
    assert read_text(buf.getvalue()) == ""
    buf = io.BytesIO()
    Image.new("RGBA", (400, 200), (0, 0, 0, 0)).save(buf, "PNG")
    assert read_text(buf.getvalue()) == ""


def _on_canvas(image: bytes, size: tuple[int, int]) -> bytes:
    """The screenshot pasted at the top left of a white canvas (a whole phone screen, a desktop)."""
    canvas = Image.new("RGB", size, "white")
    canvas.paste(Image.open(io.BytesIO(image)).convert("RGB"), (0, 0))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=87)
    return buf.getvalue()


@pytest.mark.skipif(CJK_FONT is None, reason="no Chinese font (apt-get install fonts-wqy-microhei; `make setup` does)")
def test_a_whole_phone_screen_is_read_after_it_is_scaled_down() -> None:
    sms = "【某贷】明天上门，并通知你的通讯录。"
    text = read_text(_on_canvas(render_screenshot(sms, font_path=CJK_FONT), (1440, 3120)))
    assert sms in text.replace(" ", "")


def test_a_landscape_desktop_screenshot_keeps_its_text_readable() -> None:
    sms = "Pay today or we call your parents."
    text = read_text(_on_canvas(render_screenshot(sms, when="23:41", font_path=None), (2560, 1440)))
    assert "call your parents" in text

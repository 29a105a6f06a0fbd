"""The fake Bot API run in its own process (for benchmarks) behaves like the in-process one."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot

from tests.fake_bot_api import TOKEN, FakeBotApiProcess


def test_a_fake_in_its_own_process_offers_updates_on_schedule_and_records_what_the_bot_sends() -> None:
    with FakeBotApiProcess() as fake:
        updates = [fake.text_update(100 + i, f"第{i}条") for i in range(5)]
        ids = fake.offer_paced(updates, 20.0)  # one every 50 ms
        offered = fake.offered
        assert [offered[i] for i in ids] == sorted(offered[i] for i in ids)
        assert offered[ids[-1]] - offered[ids[0]] >= 0.19

        async def send() -> None:
            async with Bot(TOKEN, base_url=fake.base_url) as bot:
                await bot.send_message(100, "收到")

        asyncio.run(send())
        assert [c.text for c in fake.calls_of("sendMessage", 100)] == ["收到"]
        with pytest.raises(TimeoutError):
            fake.wait_for("sendDocument", timeout=0.1)
        fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
        with pytest.raises(RuntimeError, match="chat not found"):  # ApiError cannot cross processes as itself
            fake.handle("sendMessage", {"chat_id": 1, "text": "x"})

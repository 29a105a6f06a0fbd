"""Let synchronous code (the dialogue's flows) wait on the event loop without blocking it.

The dialogue core is written as plain functions that call the store. With a network database a store call
takes a round trip; made from the event loop it would stall every other chat. `run_bridged` runs such a
function in a greenlet: when it reaches `wait_for(awaitable)` (a store call sent to a thread, an NLU request)
the greenlet hands the awaitable to the event loop, which serves other chats meanwhile and resumes the
greenlet with the result. Outside `run_bridged` (tests, command-line tools) `wait_for` is not allowed and the
store simply calls the database directly. The same technique is what SQLAlchemy's asyncio layer uses.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class _Bridged(greenlet.greenlet):
    """A greenlet running synchronous code on behalf of a coroutine (its parent)."""

    def __init__(self, fn: Callable[..., Any], driver: greenlet.greenlet) -> None:
        super().__init__(fn, driver)
        self.driver = driver


def bridged() -> bool:
    """Whether the caller runs inside run_bridged (so it may hand awaitables to the event loop)."""
    return isinstance(greenlet.getcurrent(), _Bridged)


def wait_for(awaitable: Awaitable[T]) -> T:
    """From code run by run_bridged: let the event loop await this and return its result."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("wait_for() called outside run_bridged()")
    return current.driver.switch(awaitable)


def call_in(executor: Executor | None, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in the executor when bridged (the loop stays free), else right here."""
    if not bridged():
        return fn(*args)
    return wait_for(asyncio.get_running_loop().run_in_executor(executor, fn, *args))


async def run_bridged(fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) in a greenlet, awaiting on the event loop whatever it passes to wait_for."""
    worker = _Bridged(fn, greenlet.getcurrent())
    worker.gr_context = contextvars.copy_context()  # the caller's context variables are seen inside
    result: Any = worker.switch(*args)
    while not worker.dead:
        try:
            value = await result
        except BaseException:
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    return result

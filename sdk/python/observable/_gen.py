"""Tracked generators and async generators: the whole iteration is the call.

A generator runs in its consumer's context, so traces made inside it
cannot be told apart from the consumer's: only traces pending when the
iteration starts are attached. Not marked as runs (_runs): a suspended
generator lives in its consumer's locals, where nothing cheap can find it.
"""

from __future__ import annotations

import functools
from time import perf_counter
from typing import Any, AsyncGenerator, Callable, Generator

from ._context import take_pending
from ._record import Call, new_call
from ._wrap import put


def wrap_gen(name: Any, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
    """Times the whole iteration; send/throw/close reach the generator."""

    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        pending = take_pending()
        start = perf_counter()
        try:
            result = yield from fn(*args, **kwargs)
        except BaseException as exc:
            put(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise
        put(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        return result

    return tracked


def wrap_async_gen(name: Any, fn: Callable[..., AsyncGenerator[Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def tracked(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        pending = take_pending()
        start = perf_counter()
        agen = fn(*args, **kwargs)
        try:
            item = await agen.__anext__()
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    item = await agen.athrow(thrown)
                else:
                    item = await agen.asend(sent)
        except StopAsyncIteration:
            put(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        except BaseException as exc:
            put(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise

    return tracked

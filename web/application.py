"""The service's Flask class: Flask, with the per-request costs that never change paid once."""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask

# Whether a function is a coroutine function, by the function itself (a bound method's
# underlying one): weakly, so a hook or view that goes away takes its answer with it.
_IS_ASYNC: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class Application(Flask):
    """Flask, asking once per hook or view whether it is ``async``.

    Flask's own ``ensure_sync`` (documented as the method to override) inspects
    the function on every call: sixteen times in an API request, one thirtieth of
    a member look-up's CPU. Whether a function is a coroutine function never
    changes, so the answer is kept.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)
        try:
            is_async = _IS_ASYNC.get(target)
        except TypeError:  # not weakly referable: ask each time
            is_async = None
        if is_async is None:
            is_async = inspect.iscoroutinefunction(func)
            with contextlib.suppress(TypeError):
                _IS_ASYNC[target] = is_async
        return self.async_to_sync(func) if is_async else func

"""The service's Flask class tells sync hooks and views from async ones as Flask does, asked again or not."""

from __future__ import annotations

import flask
import pytest

from web.application import Application


class View:
    def get(self):
        return "sync"

    async def later(self):
        return "async"


def plain():
    return "sync"


async def coroutine():
    return "async"


@pytest.mark.parametrize("ask", [1, 3], ids=["once", "again"])
def test_sync_functions_run_as_they_are_and_async_ones_as_flask_runs_them(ask):
    ours, flasks = Application("ours"), flask.Flask("flasks")
    view = View()
    for _ in range(ask):
        assert ours.ensure_sync(plain) is plain
        assert ours.ensure_sync(view.get) == view.get
        assert ours.ensure_sync(len) is len  # a builtin: not weakly referable, asked each time
        for func in (coroutine, view.later):
            try:
                expected = flasks.ensure_sync(func)
            except RuntimeError as exc:  # without Flask's "async" extra, both refuse alike
                with pytest.raises(RuntimeError, match=str(exc)[:30]):
                    ours.ensure_sync(func)
            else:
                assert ours.ensure_sync(func)() == expected()

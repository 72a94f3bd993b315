"""A store object a plugin returned, wrapped so that its faults name the plugin.

The engine calls a store's methods long after the hook that returned it, so
the host's per-hook attribution cannot see them; :class:`AttributedStore`
does the same for every method call: an unexpected exception becomes a
:class:`~jobforge.errors.PluginError` naming the plugin, the store and the
method, chained to the original. A :class:`~jobforge.errors.JobforgeError`
(an invalid catalog file, a lock timeout) is an expected error and is passed
on as it is, with the plugin set on a ``PluginError`` that names none.
"""

from __future__ import annotations

import functools
from typing import Any

from jobforge.errors import JobforgeError, PluginError


class AttributedStore:
    """Calls ``wrapped``'s methods; see the module docstring.

    ``what``: how messages name the store (``"catalog store"``); ``who``: the
    plugin as :meth:`~jobforge.hooks.host.PluginHost.identity` describes it;
    ``plugin``: its registered name (``PluginError.plugin``).
    """

    def __init__(self, wrapped: Any, *, what: str, who: str, plugin: str) -> None:
        self.wrapped = wrapped
        self._what = what
        self._who = who
        self._plugin = plugin

    def __repr__(self) -> str:
        return f"AttributedStore({self.wrapped!r}, plugin={self._plugin!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.wrapped, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except PluginError as exc:
                if exc.plugin is None:
                    exc.plugin = self._plugin
                raise
            except JobforgeError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"the {self._what} of plugin {self._who} raised in {name}: "
                    f"{type(exc).__name__}: {exc}",
                    plugin=self._plugin,
                ) from exc

        return call

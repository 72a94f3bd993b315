"""The pluggy markers of the ``jobforge`` project.

Plugins import :data:`hookimpl` as ``from jobforge import hookimpl``.
"""

import pluggy

PROJECT_NAME = "jobforge"
ENTRY_POINT_GROUP = "jobforge"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

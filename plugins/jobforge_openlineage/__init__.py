"""OpenLineage events from jobforge's lifecycle hooks (bundled plugin ``openlineage``).

Off unless the config carries settings for it (``[openlineage]`` in
``jobforge.toml``, or ``PipelineConfig(plugin_settings={"openlineage": {...}})``):
then every ingestion and transition sends a START event before it runs and a
COMPLETE or FAIL event after, with the ``openlineage-python`` client (the
``openlineage`` extra). See docs/openlineage.md.

Importing this module imports nothing but jobforge's hook marker: the client
and the event builder are loaded by the first hook call that has settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobforge import hookimpl

if TYPE_CHECKING:
    from jobforge.plugin import LineageRecord, TransitionEvent

SETTINGS = "openlineage"
"""The name a config's ``plugin_settings`` holds this plugin's settings under."""


@hookimpl
def jobforge_before_transition(event: TransitionEvent) -> None:
    if event.config.settings_for(SETTINGS) is None:
        return
    from jobforge_openlineage.emitter import emitter_for

    emitter_for(event.config).start(event)


@hookimpl
def jobforge_after_transition(event: TransitionEvent, record: LineageRecord) -> None:
    if event.config.settings_for(SETTINGS) is None:
        return
    from jobforge_openlineage.emitter import emitter_for

    emitter_for(event.config).complete(event, record)


@hookimpl
def jobforge_transition_failed(event: TransitionEvent, error: BaseException) -> None:
    if event.config.settings_for(SETTINGS) is None:
        return
    from jobforge.plugin import ConfigError
    from jobforge_openlineage.emitter import emitter_for

    try:
        emitter = emitter_for(event.config)
    except ConfigError:
        return  # settings that cannot be used: jobforge_before_transition said so
    emitter.fail(event, error)

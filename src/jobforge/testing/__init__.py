"""Test helpers for jobforge and for plugin authors.

Installed as a pytest plugin (entry point ``pytest11``), so the fixtures in
:mod:`jobforge.testing.fixtures` are available in any project that has
jobforge installed:

- ``jobforge_data_root``: an empty temporary data root;
- ``jobforge_config``: a :class:`~jobforge.pipeline.config.PipelineConfig` on it
  whose plugin manager has the bundled plugins only (no installed entry points);
- ``register_jobforge_plugin``: registers a plugin object on a config's manager
  for one test and always unregisters it afterwards.

:func:`isolated_config` is the same config without pytest.
"""

from jobforge.testing.helpers import isolated_config

__all__ = ["isolated_config"]

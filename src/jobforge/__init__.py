"""jobforge: auditable medallion data pipelines.

Importing this package is cheap on purpose: it defines the version and the
``hookimpl`` marker that plugins use, and nothing else runs. Data I/O, plugin
discovery and logging set-up happen only when a pipeline, a config or the CLI
asks for them.
"""

from jobforge.hooks.markers import hookimpl

__version__ = "2.0.0"

__all__ = ["__version__", "hookimpl"]

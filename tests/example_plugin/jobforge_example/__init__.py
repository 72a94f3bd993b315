"""jobforge-example: the worked example of a jobforge plugin distribution.

The hook implementations live in :mod:`jobforge_example.plugin`, the module
the ``jobforge`` entry point names. This package module stays empty so that
importing it never runs plugin code.
"""

__version__ = "0.1.0"

"""The ``jobforge`` command: a thin layer over the library."""

"""Declarative pipelines: the ``jobforge.toml`` project file, its validation and its runner."""

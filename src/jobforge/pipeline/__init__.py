"""Core contracts: the layers, the pipeline configuration and the record models."""

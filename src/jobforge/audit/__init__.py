"""Evidence an auditor can check: file digests, the per-table record chain,
signatures, and ``jobforge verify`` (see docs/audit.md)."""

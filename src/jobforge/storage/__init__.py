"""Writing data safely: atomic files, table versions, locks and name validation."""

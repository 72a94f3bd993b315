"""Moving data between layers: provenance, contracts per layer, the row ledger and quarantine."""

"""Monthly disbursement: payment lists, release checks, immutable files, reconciliation."""

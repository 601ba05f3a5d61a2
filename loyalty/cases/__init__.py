"""Service cases: missing-points complaints classified, tracked and resolved by an audited adjustment; service notes."""

"""Service cases: missing-points complaints from members, cashiers and staff."""

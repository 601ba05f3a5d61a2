"""Earning rules as the operator and merchants write them: versions, activation, the active set, quotes."""

"""The loyalty domain: members, merchants, the ledger and everything around them.

Nothing in this package imports Flask; entry points (API views, pages, jobs,
commands) open a unit of work, call services and commit once.
"""

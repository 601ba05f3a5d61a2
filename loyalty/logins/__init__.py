"""Signing in, for any kind of account: password hashing, one-time secrets, attempt accounting.

The member portal's accounts (``loyalty.accounts``) and the staff console build
on these; none of it knows who the account belongs to beyond an id.
"""

"""Retention campaigns: an audience, an offer, a control group, channels within consent and the contact cap.

Each campaign's lift is measured against its control group.
"""

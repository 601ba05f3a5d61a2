"""The portal's views, registered on ``member_portal.bp`` when imported."""

from member_portal.views import account, pages, profile, rewards  # noqa: F401

"""A member's own account in the portal: signing in, consents, self-service, and what they are shown."""

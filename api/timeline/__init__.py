"""A member's 360-degree timeline."""

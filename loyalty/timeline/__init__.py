"""A member's 360-degree timeline: everything about them, across every source, newest first."""

"""Version strings."""

VERSION = "0.1.0"

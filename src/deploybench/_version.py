"""The package version, in one place (read by the stored records and by packaging tools)."""

__version__ = "0.1.0"

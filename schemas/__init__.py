"""Declared schemas of every source format and lakehouse table."""

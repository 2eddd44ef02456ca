"""Alembic migrations for the store's tables (``env.py`` and ``versions/``)."""

"""Widgets, sections and rendering helpers that the pages are built from."""

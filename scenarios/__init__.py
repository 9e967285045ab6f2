"""Bundled scenario files (installed as package data; the repository keeps them in scenarios/)."""

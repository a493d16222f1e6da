"""The REST API (the only package that imports FastAPI); see :mod:`segmentation.api.app`."""

from segmentation.api.app import BASE, create_app, mount

__all__ = ["BASE", "create_app", "mount"]

"""Errors the CLI reports as one line (kept apart so the CLI can catch them cheaply)."""

from __future__ import annotations


class LocalError(RuntimeError):
    """A problem with `csms local`'s input or environment that the user can fix."""


class TemplateError(RuntimeError):
    """The synthesized template is missing or does not describe what we need."""

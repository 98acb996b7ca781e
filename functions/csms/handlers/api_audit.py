"""Routes of the HTTP API: audit."""

from __future__ import annotations

from csms.handlers.api_common import new_router

router = new_router()

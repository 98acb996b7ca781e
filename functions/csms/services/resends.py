"""Telling a resent message from a new one."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel


def message_key(unique_id: str, content: BaseModel) -> str:
    """The unique id with a digest of the content.

    The id alone is not enough: many stations number their messages from 1 again after every
    reboot, so the same id can come with a new message.
    """
    digest = hashlib.sha256(content.model_dump_json().encode()).hexdigest()[:16]
    return f"{unique_id}:{digest}"

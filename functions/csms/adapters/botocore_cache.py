"""One botocore data loader for every client of the process.

botocore reads a service's model (DynamoDB's is ~0.4 MB of JSON, plus the endpoint rules) from
disk and parses it for every new *session*: each cached loader belongs to one session. PynamoDB
makes a session per model class connection, and a fresh boto3 session per client would do the
same, so a cold start paid for the same parse once per model class (tens of milliseconds each).
Sessions made here share one loader, so each model is parsed once per process. Sessions are
still one per caller (botocore sessions are not shared across threads); only the read-only
models are.
"""

from __future__ import annotations

from functools import cache

import botocore.loaders
import botocore.session
import pynamodb.connection.base


@cache
def shared_loader() -> botocore.loaders.Loader:
    """The process's loader (its caches fill on first use)."""
    return botocore.loaders.create_loader()


def new_session() -> botocore.session.Session:
    """A botocore session using the shared loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", shared_loader())
    return session


def share_with_pynamodb() -> None:
    """Make PynamoDB's connections create their sessions here (idempotent)."""
    # PynamoDB looks `get_session` up in its module when a connection first needs a session.
    pynamodb.connection.base.get_session = new_session  # type: ignore[attr-defined,assignment]

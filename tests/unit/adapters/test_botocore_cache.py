"""One botocore loader per process: sessions and PynamoDB's connections share it."""

from __future__ import annotations

import pynamodb.connection.base

from csms.adapters import botocore_cache
from csms.adapters.dynamo_models import configure_table


def test_sessions_share_one_loader_but_are_distinct() -> None:
    # GIVEN two sessions made here
    one, two = botocore_cache.new_session(), botocore_cache.new_session()
    # THEN they are two sessions (one per caller, as botocore wants) with one loader
    assert one is not two
    assert one.get_component("data_loader") is two.get_component("data_loader")
    assert one.get_component("data_loader") is botocore_cache.shared_loader()


def test_configuring_the_table_makes_pynamodb_use_the_shared_loader() -> None:
    # WHEN the table is configured (every cold start)
    configure_table("csms-test", "us-east-1")
    # THEN a PynamoDB connection's session uses the shared loader
    connection = pynamodb.connection.base.Connection(region="us-east-1")
    assert connection.session.get_component("data_loader") is botocore_cache.shared_loader()

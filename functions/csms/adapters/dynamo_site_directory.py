"""SiteDirectory on the single table: the site items `TENANT#{t}` / `SITE#{id}`, read by key.

The tenancy part of the API owns the site items and their full model; station management and
the live view only need a site's existence, name and time zone, so this reads those through a
model of its own (pynamodb ignores the attributes a model does not declare).
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from csms.adapters.dynamo_models import _Item
from csms.services.ports import SiteRef

_PREFIX = "SITE#"
# Sort keys of sites lie in [SITE#, SITE$): '$' is the character after '#'.
_PREFIX_END = "SITE$"


class SiteRefItem(_Item):
    """The few attributes of a site item read here (all optional: older items lack some)."""

    name = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)


def _ref(item: SiteRefItem) -> SiteRef:
    return SiteRef(
        id=item.SK.removeprefix(_PREFIX), name=item.name, timezone=item.timezone or "UTC"
    )


class DynamoSiteDirectory:
    """A tenant's sites by key: one GetItem for a site, one Query per page of sites."""

    def site(self, tenant_id: str, site_id: str) -> SiteRef | None:
        """Strongly consistent: a station is often registered right after its site."""
        try:
            item = SiteRefItem.get(
                f"TENANT#{tenant_id}", f"{_PREFIX}{site_id}", consistent_read=True
            )
        except SiteRefItem.DoesNotExist:
            return None
        return _ref(item)

    def sites(self, tenant_id: str, limit: int, after: str | None = None) -> list[SiteRef]:
        """By id; `after` (exclusive) continues a listing."""
        lower = f"{_PREFIX}{after}\x00" if after is not None else _PREFIX
        return [
            _ref(item)
            for item in SiteRefItem.query(
                f"TENANT#{tenant_id}",
                SiteRefItem.SK.between(lower, _PREFIX_END),
                limit=limit,
            )
        ]

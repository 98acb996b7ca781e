"""Request and response bodies of the partner webhook endpoints (csms.handlers.api_webhooks)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Self

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from csms.domain.webhooks import (
    MAX_URL_LENGTH,
    DeliveryAttempt,
    DeliveryOutcome,
    Subscription,
    SubscriptionStatus,
    WebhookEventType,
)
from csms.handlers.api_models import ApiModel
from csms.services.webhooks import SubscriptionPatch

# Only the shape here; the scheme, credentials and addresses are the service's to judge.
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_URL_LENGTH,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$",
        description="Where events are posted (https; http only to 127.0.0.1 in `csms local`)",
        examples=["https://partner.example.com/csms/webhooks"],
    ),
]
EventTypes = Annotated[
    list[WebhookEventType],
    Field(min_length=1, max_length=len(WebhookEventType), description="What is delivered"),
]
Description = Annotated[str, Field(min_length=1, max_length=256)]
# Replays reach as far back as copies are kept.
MAX_REPLAY_RANGE = timedelta(days=31)


class WebhookView(ApiModel):
    """A subscription as the API shows it (never with its secret)."""

    id: str
    url: str
    event_types: list[WebhookEventType]
    description: str | None = None
    status: SubscriptionStatus
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookView:
        """The view of a subscription."""
        return cls(
            id=subscription.id,
            url=subscription.url,
            event_types=sorted(subscription.event_types),
            description=subscription.description,
            status=subscription.status,
            disabled_reason=subscription.disabled_reason,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
        )


class WebhookWithSecret(WebhookView):
    """A subscription with its signing secret: answered once, on creation and on rotation."""

    secret: str = Field(description="`whsec_...`: keep it; it is not shown again")


class WebhookPage(ApiModel):
    """A page of subscriptions, by id."""

    items: list[WebhookView]
    next_cursor: str | None = None


class WebhookCreate(ApiModel):
    """A new subscription."""

    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes
    description: Description | None = None


class WebhookUpdate(ApiModel):
    """A partial update (JSON merge patch): absent fields stay, null clears the description."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="false pauses deliveries; true resumes them (also after 410)"
    )

    @model_validator(mode="after")
    def _only_description_clears(self) -> Self:
        for name in ("url", "event_types", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def patch(self) -> SubscriptionPatch:
        """The service's patch: only the fields the body names."""
        return SubscriptionPatch(
            url=self.url,
            event_types=frozenset(self.event_types) if self.event_types is not None else None,
            description=self.description,
            clear_description="description" in self.model_fields_set and self.description is None,
            enabled=self.enabled,
        )


class DeliveryView(ApiModel):
    """One attempt of the delivery log."""

    event_id: str
    event_type: WebhookEventType
    webhook_id: str
    attempt: int
    at: datetime
    outcome: DeliveryOutcome
    status_code: int | None = None
    error: str | None = None
    duration_ms: int

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryView:
        """The view of a log line."""
        return cls(
            event_id=attempt.event_id,
            event_type=attempt.event_type,
            webhook_id=attempt.webhook_id,
            attempt=attempt.attempt,
            at=attempt.at,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )


class DeliveryPage(ApiModel):
    """A page of the delivery log, newest first."""

    items: list[DeliveryView]
    next_cursor: str | None = None


class ReplayRequest(ApiModel):
    """One event (`eventId`) or the events that occurred in [`from`, `to`)."""

    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_event_or_a_range(self) -> Self:
        ranged = self.from_ is not None or self.to is not None
        if (self.event_id is None) == (not ranged):
            raise ValueError("give either eventId or both from and to")
        if ranged:
            if self.from_ is None or self.to is None:
                raise ValueError("a range needs both from and to")
            if self.to <= self.from_:
                raise ValueError("to must be after from")
            if self.to - self.from_ > MAX_REPLAY_RANGE:
                raise ValueError("a range spans at most 31 days (copies are kept 30)")
        return self

    def period(self) -> tuple[datetime, datetime]:
        """The range asked for (the validator made sure both ends are given)."""
        if self.from_ is None or self.to is None:
            raise ValueError("not a range")
        return self.from_, self.to


class ReplayView(ApiModel):
    """What a replay queued; `nextFrom` when it stopped at its limit (replay again from there)."""

    queued: int
    next_from: datetime | None = None

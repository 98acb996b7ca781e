"""The user directory: Cognito in AWS (operators sign in there), nothing locally.

Cognito puts the custom attributes `custom:tenant_id`, `custom:role` and `custom:sites` into the
ID token, which is where the API reads tenant, role and sites (csms.handlers.api_access). The
Cognito user name is the user's id; its e-mail is a sign-in alias.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from csms.domain.errors import ResourceExistsError, UserDirectoryError
from csms.domain.tenancy import User, UserStatus

logger = logging.getLogger(__name__)

_EXISTS = frozenset({"UsernameExistsException", "AliasExistsException"})


def _attributes(user: User) -> dict[str, str]:
    """The directory's attributes of a user (absent sites: every site)."""
    attributes = {
        "email": user.email,
        # The operator who creates or changes the address vouches for it.
        "email_verified": "true",
        "name": user.name,
        "custom:role": user.role.value,
    }
    if user.sites is not None:
        attributes["custom:sites"] = ",".join(user.sites)
    return attributes


def _pairs(attributes: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in attributes.items()]


class CognitoUserDirectory:
    """UserDirectory on a Cognito user pool (admin API calls with the function's role)."""

    def __init__(self, user_pool_id: str, client: Callable[[], Any]) -> None:
        self._pool = user_pool_id
        self._client_factory = client
        self._client_instance: Any = None

    def _client(self) -> Any:
        # Created on first use: the API's other routes never pay for a cognito-idp client.
        if self._client_instance is None:
            self._client_instance = self._client_factory()
        return self._client_instance

    def create(self, tenant_id: str, user: User) -> None:
        """AdminCreateUser (Cognito e-mails the invitation with a temporary password)."""
        attributes = {**_attributes(user), "custom:tenant_id": tenant_id}
        self._call(
            "AdminCreateUser",
            user,
            Username=user.id,
            UserAttributes=_pairs(attributes),
            DesiredDeliveryMediums=["EMAIL"],
        )
        if user.status is UserStatus.DISABLED:
            self._call("AdminDisableUser", user, Username=user.id)

    def update(self, tenant_id: str, before: User, after: User) -> None:
        """Change what differs; sign the user out when their access shrinks or ends."""
        del tenant_id  # immutable in the pool: set once, at creation
        old, new = _attributes(before), _attributes(after)
        changed = {name: value for name, value in new.items() if old.get(name) != value}
        changed.pop("email_verified", None)
        if "email" in changed:
            changed["email_verified"] = "true"
        if changed:
            self._call(
                "AdminUpdateUserAttributes",
                after,
                Username=after.id,
                UserAttributes=_pairs(changed),
            )
        if "custom:sites" in old and "custom:sites" not in new:
            self._call(
                "AdminDeleteUserAttributes",
                after,
                Username=after.id,
                UserAttributeNames=["custom:sites"],
            )
        if before.status is not after.status:
            action = "AdminEnableUser" if after.status is UserStatus.ACTIVE else "AdminDisableUser"
            self._call(action, after, Username=after.id)
        if (
            after.status is UserStatus.DISABLED
            or before.role is not after.role
            or (before.sites != after.sites)
        ):
            # Refresh tokens would go on minting ID tokens; the ones issued expire within the
            # hour (the app client's ID token validity).
            self._call("AdminUserGlobalSignOut", after, Username=after.id, missing_ok=True)

    def delete(self, tenant_id: str, user: User) -> None:
        """AdminDeleteUser; a user Cognito does not know is deleted already."""
        del tenant_id
        self._call("AdminDeleteUser", user, Username=user.id, missing_ok=True)

    def _call(self, action: str, user: User, *, missing_ok: bool = False, **kwargs: Any) -> None:
        method = "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")
        try:
            getattr(self._client(), method)(UserPoolId=self._pool, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if missing_ok and code == "UserNotFoundException":
                return
            if code in _EXISTS:
                raise ResourceExistsError("user", user.id) from None
            logger.warning("Cognito %s failed for user %s: %s", action, user.id, code)
            raise UserDirectoryError(
                f"the user directory refused {action} ({code}); nothing was changed"
            ) from None
        except BotoCoreError as exc:
            logger.warning("Cognito %s failed for user %s: %s", action, user.id, type(exc).__name__)
            raise UserDirectoryError(
                f"the user directory could not be reached for {action}; nothing was changed"
            ) from None


class NoUserDirectory:
    """The local runtime's directory: nothing to keep (`csms token` mints any identity)."""

    def create(self, tenant_id: str, user: User) -> None:
        """Nothing to create."""

    def update(self, tenant_id: str, before: User, after: User) -> None:
        """Nothing to change."""

    def delete(self, tenant_id: str, user: User) -> None:
        """Nothing to delete."""

"""CognitoUserDirectory against botocore's Stubber: the admin calls it makes and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from csms.adapters.cognito import CognitoUserDirectory, NoUserDirectory
from csms.domain.access import Role
from csms.domain.errors import ResourceExistsError, UserDirectoryError
from csms.domain.tenancy import User, UserStatus

POOL = "eu-central-1_AbC123"
TENANT = "acme"


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="eu-central-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def directory(client: Any) -> CognitoUserDirectory:
    return CognitoUserDirectory(POOL, lambda: client)


def a_user(**over: Any) -> User:
    fields: dict[str, Any] = {
        "id": "u-1",
        "email": "kim@example.com",
        "name": "Kim",
        "role": Role.TECHNICIAN,
        "sites": ["s2", "s1"],
    }
    fields.update(over)
    return User.model_validate(fields)


def attrs(**values: str) -> list[dict[str, str]]:
    return [{"Name": name.replace("__", ":"), "Value": value} for name, value in values.items()]


def test_cognito_create_sets_tenant_role_and_sites(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    # GIVEN Cognito expects one AdminCreateUser with the custom attributes
    stub.add_response(
        "admin_create_user",
        {"User": {"Username": "u-1"}},
        {
            "UserPoolId": POOL,
            "Username": "u-1",
            "UserAttributes": attrs(
                email="kim@example.com",
                email_verified="true",
                name="Kim",
                custom__role="technician",
                custom__sites="s1,s2",
                custom__tenant_id=TENANT,
            ),
            "DesiredDeliveryMediums": ["EMAIL"],
        },
    )
    # WHEN the user is created
    directory.create(TENANT, a_user())
    # THEN exactly that call was made (the stubber checks the parameters)


def test_cognito_create_of_an_unrestricted_disabled_user(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    # GIVEN a user of every site (no custom:sites), disabled from the start
    stub.add_response(
        "admin_create_user",
        {"User": {"Username": "u-1"}},
        {
            "UserPoolId": POOL,
            "Username": "u-1",
            "UserAttributes": attrs(
                email="kim@example.com",
                email_verified="true",
                name="Kim",
                custom__role="viewer",
                custom__tenant_id=TENANT,
            ),
            "DesiredDeliveryMediums": ["EMAIL"],
        },
    )
    stub.add_response("admin_disable_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
    # WHEN created
    directory.create(TENANT, a_user(role=Role.VIEWER, sites=None, status=UserStatus.DISABLED))


@pytest.mark.parametrize("code", ["UsernameExistsException", "AliasExistsException"])
def test_cognito_create_of_a_known_user_is_resource_exists(
    stub: Stubber, directory: CognitoUserDirectory, code: str
) -> None:
    stub.add_client_error("admin_create_user", service_error_code=code)
    with pytest.raises(ResourceExistsError):
        directory.create(TENANT, a_user())


def test_cognito_refusal_is_a_user_directory_error(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    stub.add_client_error("admin_create_user", service_error_code="TooManyRequestsException")
    with pytest.raises(UserDirectoryError, match="TooManyRequestsException"):
        directory.create(TENANT, a_user())


def test_cognito_unreachable_is_a_user_directory_error(directory: CognitoUserDirectory) -> None:
    # GIVEN a client that cannot connect
    class Unreachable:
        def admin_delete_user(self, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://cognito-idp")

    offline = CognitoUserDirectory(POOL, Unreachable)
    # THEN the failure is the directory's, without botocore's text
    with pytest.raises(UserDirectoryError, match="could not be reached"):
        offline.delete(TENANT, a_user())


def test_cognito_update_changes_only_what_differs(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    # GIVEN a rename only
    before = a_user()
    after = a_user(name="Kim Lee")
    stub.add_response(
        "admin_update_user_attributes",
        {},
        {"UserPoolId": POOL, "Username": "u-1", "UserAttributes": attrs(name="Kim Lee")},
    )
    # WHEN updated
    directory.update(TENANT, before, after)
    # THEN one call, no sign-out (access unchanged)


def test_cognito_update_of_role_sites_and_email_signs_out(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    # GIVEN a new e-mail and role, and the site restriction lifted
    before = a_user()
    after = a_user(email="k@example.com", role=Role.OPERATOR, sites=None)
    stub.add_response(
        "admin_update_user_attributes",
        {},
        {
            "UserPoolId": POOL,
            "Username": "u-1",
            "UserAttributes": attrs(
                email="k@example.com", custom__role="operator", email_verified="true"
            ),
        },
    )
    stub.add_response(
        "admin_delete_user_attributes",
        {},
        {"UserPoolId": POOL, "Username": "u-1", "UserAttributeNames": ["custom:sites"]},
    )
    stub.add_response("admin_user_global_sign_out", {}, {"UserPoolId": POOL, "Username": "u-1"})
    # WHEN updated
    directory.update(TENANT, before, after)


def test_cognito_disable_and_enable(stub: Stubber, directory: CognitoUserDirectory) -> None:
    # GIVEN a disable (with a sign-out that finds no sessions) and an enable
    active, disabled = a_user(), a_user(status=UserStatus.DISABLED)
    stub.add_response("admin_disable_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
    stub.add_client_error("admin_user_global_sign_out", "UserNotFoundException")
    stub.add_response("admin_enable_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
    # WHEN disabled, then enabled
    directory.update(TENANT, active, disabled)
    directory.update(TENANT, disabled, active)


def test_cognito_delete_of_an_unknown_user_is_done(
    stub: Stubber, directory: CognitoUserDirectory
) -> None:
    stub.add_response("admin_delete_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
    stub.add_client_error("admin_delete_user", "UserNotFoundException")
    directory.delete(TENANT, a_user())
    directory.delete(TENANT, a_user())


def test_cognito_client_is_made_once_on_first_use(client: Any) -> None:
    # GIVEN a factory that counts
    made: list[Any] = []

    def factory() -> Any:
        made.append(client)
        return client

    directory = CognitoUserDirectory(POOL, factory)
    assert made == []
    with Stubber(client) as stub:
        stub.add_response("admin_delete_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
        stub.add_response("admin_delete_user", {}, {"UserPoolId": POOL, "Username": "u-1"})
        directory.delete(TENANT, a_user())
        directory.delete(TENANT, a_user())
    assert len(made) == 1


def test_no_user_directory_accepts_everything() -> None:
    directory = NoUserDirectory()
    directory.create(TENANT, a_user())
    directory.update(TENANT, a_user(), a_user(role=Role.ADMIN))
    directory.delete(TENANT, a_user())

"""`csms` command line: wrong input gets one readable line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.handlers.api_access import principal_from_claims
from csms_local import cli, tokens


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["local", "--ws-port", "99999"], "99999 is not between 1 and 65535"),
        (["local", "--http-port", "http"], "'http' is not a port number"),
        (["local", "--heartbeat-interval", "-5"], "-5 must be greater than 0"),
        (["local", "--jobs-every", "0"], "0 must be greater than 0"),
        (["local", "--jobs-every", "often"], "'often' is not a whole number"),
        (["token", "--role", "emperor"], "invalid choice: 'emperor'"),
        (["token", "--ttl", "soon"], "'soon' is not a whole number"),
        (["launch"], "invalid choice: 'launch'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_cli_wrong_arguments_get_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the command is called with a wrong argument
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    # THEN one line names the problem, exit status 2, no traceback, no usage dump
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert err.count("\n") == 1
    assert expected in err
    assert "Traceback" not in err


def test_cli_local_heartbeat_interval_out_of_range_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN the heartbeat interval exceeds API Gateway's idle timeout
    code = cli.main(["local", "--heartbeat-interval", "900"])
    # THEN a one-line error
    err = capsys.readouterr().err
    assert code == 2
    assert err == "csms: error: --heartbeat-interval must be between 10 and 590 seconds\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_cli_local_bad_seed_file_is_one_line(
    tmp_path: Path, content: str | None, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a missing, broken or wrongly shaped seed file
    seed = tmp_path / "seed.json"
    if content is not None:
        seed.write_text(content)
    # WHEN csms local is started with it
    code = cli.main(["local", "--seed", str(seed)])
    # THEN one readable line, before anything starts
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert expected in err


def test_cli_token_is_accepted_by_the_local_authorizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a token is printed for a tenant and role
    key_file = tmp_path / "key"
    code = cli.main(["token", "--role", "viewer", "--tenant", "acme", "--key-file", str(key_file)])
    token = capsys.readouterr().out.strip()
    # THEN the local authorizer accepts it with those claims, and the key file is private
    claims = tokens.verify(tokens.signing_key(key_file), f"Bearer {token}")
    assert code == 0
    assert (claims["tenant_id"], claims["role"]) == ("acme", "viewer")
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_cli_token_with_sites_restricts_the_user_to_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a token is printed for an operator limited to two sites, and one for every site
    key_file = tmp_path / "key"
    args = ["token", "--role", "operator", "--key-file", str(key_file)]
    cli.main([*args, "--sites", "depot-1", "depot-2"])
    limited = capsys.readouterr().out.strip()
    cli.main(args)
    unlimited = capsys.readouterr().out.strip()
    # THEN the API reads the first as restricted to those sites, the second as unrestricted
    key = tokens.signing_key(key_file)
    principal = principal_from_claims(tokens.verify(key, f"Bearer {limited}"))
    assert principal.sites == frozenset({"depot-1", "depot-2"})
    assert principal_from_claims(tokens.verify(key, f"Bearer {unlimited}")).sites is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing bearer token"),
        ("Basic abc", "not a bearer token"),
        ("Bearer not.a.jwt", "invalid token"),
    ],
)
def test_local_authorizer_refuses_bad_tokens(
    tmp_path: Path, header: str | None, reason: str
) -> None:
    key = tokens.signing_key(tmp_path / "key")
    with pytest.raises(tokens.TokenError, match=reason):
        tokens.verify(key, header)


def test_local_authorizer_refuses_expired_and_foreign_tokens(tmp_path: Path) -> None:
    key = tokens.signing_key(tmp_path / "key")
    expired = tokens.mint(key, tenant_id="t", role="admin", ttl_s=10, now=1_000_000)
    foreign = tokens.mint("x" * 48, tenant_id="t", role="admin")
    for token in (expired, foreign):
        with pytest.raises(tokens.TokenError):
            tokens.verify(key, f"Bearer {token}")


def test_local_signing_key_too_short_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("short\n")
    with pytest.raises(tokens.TokenError, match="too short"):
        tokens.signing_key(tmp_path / "key")

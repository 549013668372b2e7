"""The one-line fix a failed credential check suggests, per status and auth mode."""

from __future__ import annotations

from trackstack_wh.config import Destination
from trackstack_wh.config.destinations import JWT_BEARER, OAUTH_REFRESH, SERVICE_ACCOUNT, STATIC
from trackstack_wh.delivery.plan import missing_secrets
from trackstack_wh.delivery.platform_auth import PLATFORMS


def _var(dest: Destination, key: str) -> str:
    return dest.credential_envs().get(key) or f"destinations.{dest.name}.{key}"


def _renew(dest: Destination) -> str:
    """How to get a working credential again, per auth mode."""
    if dest.auth == OAUTH_REFRESH:
        return (
            f"authorize the app again and put the new refresh token in "
            f"{_var(dest, 'refresh_token_env')}"
        )
    if dest.auth == JWT_BEARER:
        return (
            "check that the connected app holds the certificate of the key in "
            f"{_var(dest, 'private_key_env')}, is pre-authorized for {dest.username or 'the user'}"
            " and that the user is active"
        )
    if dest.auth == SERVICE_ACCOUNT:
        return (
            f"create a new key for the service account and name its file in "
            f"{_var(dest, 'service_account_env')}; make sure the account still has access"
        )
    return f"generate a new access token and set {_var(dest, 'access_token_env')}"


def fix_for(dest: Destination, status: str) -> str:
    """What to do about a check that ended in ``status`` (empty for ``ok``)."""
    scopes = ", ".join(PLATFORMS[dest.name].scopes)
    renewable = PLATFORMS[dest.name].token_url and dest.auth == STATIC
    if status == "ok":
        return ""
    if status == "missing":
        unset = ", ".join(missing_secrets(dest))
        if not unset:
            return f"make the files and settings [destinations.{dest.name}] names readable and set"
        return f"set {unset} in the run's environment (or hand it in: WorkspaceConfig.with_secrets)"
    if status == "expired":
        hint = ' (or set auth = "oauth_refresh" so it renews itself)' if renewable else ""
        return _renew(dest) + hint
    if status == "revoked":
        return _renew(dest)
    if status == "insufficient_scope":
        return f"grant the credential what the platform needs ({scopes}), then renew it"
    if status == "unreachable":
        return (
            "check the network, proxy, base_url, token_url and check_url; "
            "run check-credentials again once the platform answers"
        )
    return (
        "the platform refused the credential or the call: check the account IDs, the client "
        f"ID and secret and check_url of [destinations.{dest.name}]"
    )

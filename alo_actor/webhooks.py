"""For receivers of result-URL POSTs: check their Standard Webhooks signature.

A system opened with a signing secret (``AloSystem.open(..., webhook_secret=...)``,
``alo serve --webhook-secret`` or ``ALO_WEBHOOK_SECRET``) signs every POST of an
outcome with the headers ``webhook-id`` (the same on every retry of one outcome to
one URL: deduplicate on it), ``webhook-timestamp`` (real time) and
``webhook-signature``. A receiver checks them before trusting the body::

    from alo_actor.webhooks import WebhookVerificationError, verify

    try:
        outcome = verify(SECRET, request_body, request_headers)
    except WebhookVerificationError:
        return 400
    outcome["id"], outcome["status"], outcome["result"], outcome["failure"]

The body: ``{"id", "status", "result", "failure", "result_metadata", "metadata",
"created_at", "settled_at"}``, ``failure`` in the HTTP API's Failure shape
(``{"message", "metadata": {"type"}, "details"}``), times in RFC 3339; any Standard
Webhooks library verifies it too.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError

__all__ = ["WebhookVerificationError", "new_secret", "verify"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form ``whsec_<base64>`` (24 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def webhook_of(secret: str | bytes) -> Webhook:
    """The Standard Webhooks signer and checker for ``secret``; raises ValueError for a
    secret that is not ``whsec_<base64>``."""
    try:
        return Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError) as exc:
        raise ValueError(
            f"the webhook secret is not a Standard Webhooks secret (whsec_<base64>): {exc}"
        ) from None


def verify(secret: str | bytes, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
    """The outcome a signed POST carries, once its signature checks out.

    ``secret`` is the sender's (``whsec_<base64>``, or the raw key bytes); ``body``
    the request body exactly as received; ``headers`` its headers (any mapping, names
    in any case). Returns the decoded JSON body.

    Raises WebhookVerificationError when a ``webhook-*`` header is missing or
    malformed, the timestamp is more than five minutes from now, or no signature
    matches; ValueError for a secret that is not ``whsec_<base64>``.
    """
    webhook = webhook_of(secret)
    try:
        payload = webhook.verify(body, dict(headers.items()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        # A signature header without its "v1," or with bad base64, or a body that is
        # not UTF-8 JSON: the library lets these through as they are.
        raise WebhookVerificationError(f"malformed signed request: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return payload

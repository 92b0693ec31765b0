"""Verify a VAPID Authorization header (RFC 8292) with the `cryptography` package.

Usage: verify_vapid.py AUTHORIZATION PUBLIC_KEY AUDIENCE SUBJECT
Checks: the `vapid t=<jwt>, k=<key>` form; k equals PUBLIC_KEY; the JWT header says ES256; the
ES256 signature verifies under k; aud == AUDIENCE; sub == SUBJECT; exp is in the future and at
most 24 h away. Prints the claims as JSON and exits 0, or raises.
"""

import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> None:
    authorization, public_key, audience, subject = sys.argv[1:5]
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", scheme
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key, "k is not the server's public key"

    header_b64, claims_b64, signature_b64 = fields["t"].split(".")
    header = json.loads(b64url(header_b64))
    assert header["alg"] == "ES256", header

    signature = b64url(signature_b64)
    assert len(signature) == 64, len(signature)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url(fields["k"]))
    key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))

    claims = json.loads(b64url(claims_b64))
    assert claims["aud"] == audience, claims
    assert claims["sub"] == subject, claims
    now = time.time()
    assert now < claims["exp"] <= now + 24 * 3600, claims
    print(json.dumps(claims))


if __name__ == "__main__":
    main()

"""Decrypt a captured Web Push body (RFC 8291, aes128gcm) with the third-party http_ece package.

Usage: decrypt_webpush.py BODY_FILE PRIVATE_KEY AUTH
  BODY_FILE    the request body as the push service received it
  PRIVATE_KEY  base64url of the subscriber's 32-byte P-256 private scalar
  AUTH         base64url of the subscriber's 16-byte auth secret
Prints the plaintext to stdout. Exits non-zero if decryption fails.
"""

import base64
import sys

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> None:
    body_file, private_key, auth = sys.argv[1:4]
    with open(body_file, "rb") as f:
        body = f.read()
    key = ec.derive_private_key(int.from_bytes(b64url(private_key), "big"), ec.SECP256R1())
    # In aes128gcm the sender's public key travels as the header's keyid; http_ece takes it
    # from there when given our private key.
    plaintext = http_ece.decrypt(body, private_key=key, auth_secret=b64url(auth), version="aes128gcm")
    sys.stdout.buffer.write(plaintext)


if __name__ == "__main__":
    main()

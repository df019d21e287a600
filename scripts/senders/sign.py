"""Signs a webhook as a sender's own SDK does, for tests/it/senders.rs.

    sign.py slack SECRET TIMESTAMP < body      prints X-Slack-Signature (slack_sdk)
    sign.py ed25519 keypair                    prints a new key pair: PKCS#8 PEM private key
                                               path, then the hex public key (PyNaCl)
    sign.py ed25519 PRIVATE_PEM < message      prints the hex Ed25519 signature
    sign.py ecdsa-p256 keypair                 prints a new key pair: PEM private key path,
                                               then the base64 DER public key (cryptography)
    sign.py ecdsa-p256 PRIVATE_PEM < message   prints the base64 DER ECDSA (SHA-256) signature
    sign.py hmac-sha256 SECRET hex|base64 < message
                                               prints HMAC-SHA256 (Python's hmac module), as
                                               Zoom's and X's handshake replies carry it

The body or message is read from stdin as bytes; the output goes to stdout. Key
pairs are made at test time, in a temporary directory: never a key in the repository.
"""

import sys


def slack(secret: str, timestamp: str, body: bytes) -> str:
    from slack_sdk.signature import SignatureVerifier

    return SignatureVerifier(signing_secret=secret).generate_signature(
        timestamp=timestamp, body=body
    )


def _pem_path(private_pem: bytes) -> str:
    import os
    import tempfile

    fd, path = tempfile.mkstemp(prefix="sender-key-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    return path


def ed25519(private: str, body: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from nacl.signing import SigningKey

    if private == "keypair":
        key = SigningKey.generate()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.from_private_bytes(bytes(key)).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return f"{_pem_path(pem)}\n{key.verify_key.encode().hex()}"
    with open(private, "rb") as f:
        loaded = serialization.load_pem_private_key(f.read(), password=None)
    seed = loaded.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return SigningKey(seed).sign(body).signature.hex()


def ecdsa_p256(private: str, body: bytes) -> str:
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if private == "keypair":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return f"{_pem_path(pem)}\n{base64.b64encode(public).decode()}"
    with open(private, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def hmac_sha256(secret: str, encoding: str, message: bytes) -> str:
    import base64
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def main() -> None:
    sender, *args = sys.argv[1:]
    body = b"" if args[-1:] == ["keypair"] else sys.stdin.buffer.read()
    signers = {
        "slack": slack,
        "ed25519": ed25519,
        "ecdsa-p256": ecdsa_p256,
        "hmac-sha256": hmac_sha256,
    }
    if sender not in signers:
        sys.exit(f"sign.py: unknown sender {sender!r} (known: {', '.join(signers)})")
    print(signers[sender](*args, body))


if __name__ == "__main__":
    main()

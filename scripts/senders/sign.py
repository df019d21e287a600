"""Signs a webhook as a sender's own SDK does, for tests/it/senders.rs.

    sign.py slack SECRET TIMESTAMP < body    prints X-Slack-Signature (slack_sdk)

The body is read from stdin as bytes; the signature is printed alone on stdout.
"""

import sys


def slack(secret: str, timestamp: str, body: bytes) -> str:
    from slack_sdk.signature import SignatureVerifier

    return SignatureVerifier(signing_secret=secret).generate_signature(
        timestamp=timestamp, body=body
    )


def main() -> None:
    sender, *args = sys.argv[1:]
    body = sys.stdin.buffer.read()
    signers = {"slack": slack}
    if sender not in signers:
        sys.exit(f"sign.py: unknown sender {sender!r} (known: {', '.join(signers)})")
    print(signers[sender](*args, body))


if __name__ == "__main__":
    main()

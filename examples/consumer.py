#!/usr/bin/env python3
"""A consumer of webhook-gateway's topics: reads records, checks each against
the gateway's consumer contract (the AsyncAPI document at the admin port's
/contract, or a copy of it), and uses the event. The example of
docs/consuming.md; the test command runs it against a real broker.

    pip install confluent-kafka jsonschema rfc3339-validator
    python examples/consumer.py --bootstrap kafka:9092 \\
        --contract http://webhook-gateway-admin:9090/contract \\
        --topic webhooks.transfers.payment.completed --topic webhooks.transfers.payment.failed \\
        --group payments-service
"""

import argparse
import decimal
import json
import sys
import time
import urllib.request

from confluent_kafka import Consumer, KafkaException
from jsonschema import Draft7Validator, FormatChecker


def load_contract(where):
    if where.startswith(("http://", "https://")):
        with urllib.request.urlopen(where, timeout=10) as answer:
            return json.load(answer)
    with open(where, encoding="utf-8") as f:
        return json.load(f)


def validators(contract):
    """A validator per type. Each record schema in the contract stands alone
    (no $ref), keyed by the CloudEvents type the record's event-type header names."""
    return {
        name: Draft7Validator(schema, format_checker=FormatChecker())
        for name, schema in contract["components"]["schemas"].items()
    }


def use(event):
    """The business part: here, one line per event."""
    data = event["data"]
    if event["type"].startswith("transfers.payment."):
        outcome = event["type"].rsplit(".", 1)[1]
        # `amount` is a Decimal with exactly the digits Transfers sent.
        print(f"payment {data['paymentReference']} {outcome}: {data['amount']} for user {event.get('userid')}", flush=True)
    else:
        print(f"{event['type']} {event.get('subject', '')} for user {event.get('userid')}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--contract", required=True, help="the admin port's /contract URL, or a file")
    parser.add_argument("--topic", action="append", required=True)
    parser.add_argument("--group", default="webhook-gateway-example")
    parser.add_argument("--max-records", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    args = parser.parse_args()

    by_type = validators(load_contract(args.contract))
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        # Commit only what was handled: a crash re-reads, never skips.
        "enable.auto.commit": False,
    })
    consumer.subscribe(args.topic)
    handled = set()  # event ids done; a real service keeps them with its own state
    records = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while not args.max_records or records < args.max_records:
            if deadline and time.monotonic() > deadline:
                print(f"timed out after {records} record(s)", file=sys.stderr)
                return 1
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            records += 1
            headers = {k: (v or b"").decode() for k, v in message.headers() or []}
            validator = by_type.get(headers.get("event-type"))
            # Decimal keeps every digit of an amount; a float would round it.
            event = json.loads(message.value(), parse_float=decimal.Decimal)
            errors = list(validator.iter_errors(event)) if validator else []
            if validator is None or errors:
                # Not what the contract promises: park it (here: report it) rather than guess.
                why = errors[0].message if errors else f"type {headers.get('event-type')!r} is not in the contract"
                print(f"rejected {message.topic()}@{message.offset()}: {why}", file=sys.stderr, flush=True)
            elif event["id"] in handled:
                print(f"duplicate {event['id']} skipped", flush=True)  # at-least-once delivery
            else:
                use(event)
                handled.add(event["id"])
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reads Kafka records with the CloudEvents Python SDK's automatic reader, as a
consumer would: `from_kafka_event` (PyPI cloudevents 2.x), which picks binary
or structured mode by itself. Prints, per record, one JSON line with what the
consumer gets: id, type, source, subject, and data (`data_bytes`, base64, when
the SDK hands over bytes), or `error` when the SDK refuses the record.

The SDK takes any `ce_` header to mean binary mode: a structured record that
carries one comes out with the whole envelope as `data`. The integration test
(tests/it/sdk_readers.rs) compares these lines with what the gateway meant.

    python read_with_sdk.py RECORDS.jsonl
RECORDS.jsonl: one record per line, as tests/it/common/records.rs writes them
(key, headers as [name, value] pairs, value; bytes in hex).
"""

import base64
import json
import sys

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event


def message(record):
    """The record as the SDK's KafkaMessage, built the way docs/consuming.md shows from a
    confluent-kafka message: headers by name, key and value as bytes."""
    unhex = lambda v: None if v is None else bytes.fromhex(v)
    return KafkaMessage(
        headers={name: unhex(value) or b"" for name, value in record["headers"]},
        key=unhex(record.get("key")),
        value=unhex(record["value"]),
    )


def seen(event):
    data = event.get_data()
    read = {
        "id": event.get_id(),
        "type": event.get_type(),
        "source": event.get_source(),
        "subject": event.get_subject(),
    }
    if isinstance(data, (bytes, bytearray)):
        read["data_bytes"] = base64.b64encode(data).decode()
    else:
        read["data"] = data
    return read


def main():
    if len(sys.argv) != 2:
        print("usage: read_with_sdk.py RECORDS.jsonl", file=sys.stderr)
        return 64
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                read = seen(from_kafka_event(message(json.loads(line))))
            except Exception as e:  # the SDK refusing a record is an outcome to report
                read = {"error": f"{type(e).__name__}: {e}"}
            print(json.dumps(read), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

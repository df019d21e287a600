#!/usr/bin/env python3
"""Validates every Kafka record the integration tests read back against the
contract of the gateway that wrote it, with an independent JSON Schema
validator (Python's jsonschema, draft-07, formats checked).

The test harness (tests/it/common/records.rs), when CONTRACT_RECORDS_DIR is
set, writes there:
  contracts/<digest>.json   each gateway's AsyncAPI document
  records-<pid>.jsonl       one line per record read: the test, the contracts
                            of the gateways on that broker, topic, key, headers
                            and value (bytes in hex)

A record is valid when, in one of its contracts, exactly one message of the
channel whose address is its topic accepts it (the AsyncAPI rule for a
channel's messages): its headers (each header once, UTF-8), its key (the Kafka
binding's key schema) and, for a JSON content type, its value.

Then it proves that it can fail: mutations of real records (an attribute
dropped or added, the type changed, data not an object, a header dropped, a
bad dead-letter reason) must each be rejected.

    python validate_records.py DIR
Exits 1 on any invalid record, on a mutation accepted, or when DIR holds no
record at all (the harness did not run).
"""

import collections
import copy
import decimal
import glob
import json
import os
import sys
import threading

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7


def fail(message):
    print(f"validate_records: {message}", file=sys.stderr)
    sys.exit(1)


FORMATS = FormatChecker()
if "date-time" not in FORMATS.checkers:
    fail("jsonschema cannot check date-time here: install rfc3339-validator (scripts/contract/requirements.txt)")


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class Contract:
    """One AsyncAPI document: channels by address, messages with their schemas."""

    def __init__(self, digest, doc):
        self.digest = digest
        self.doc = doc
        self.uri = f"urn:contract:{digest}"
        self.registry = Registry().with_resource(self.uri, Resource(contents=doc, specification=DRAFT7))
        self.by_topic = collections.defaultdict(list)
        self._validators = {}
        for name, channel in doc.get("channels", {}).items():
            _, channel = self.resolve(f"/channels/{escape(name)}", channel)
            topic = channel.get("bindings", {}).get("kafka", {}).get("topic") or channel.get("address") or name
            for key, message in channel.get("messages", {}).items():
                pointer, message = self.resolve(f"/channels/{escape(name)}/messages/{escape(key)}", message)
                self.by_topic[topic].append((message.get("name", key), pointer, message))

    def resolve(self, pointer, value):
        """Follows local $refs: the target's pointer and value."""
        for _ in range(16):
            ref = value.get("$ref") if isinstance(value, dict) else None
            if not (isinstance(ref, str) and ref.startswith("#")):
                break
            pointer = ref[1:]
            value = self.doc
            for token in pointer.split("/")[1:]:
                token = token.replace("~1", "/").replace("~0", "~")
                value = value[int(token)] if isinstance(value, list) else value[token]
        return pointer, value

    def validator(self, pointer):
        """A validator for the schema at `pointer` in this document ($refs resolved by the registry)."""
        if pointer not in self._validators:
            self._validators[pointer] = Draft7Validator(
                {"$ref": f"{self.uri}#{pointer}"}, registry=self.registry, format_checker=FORMATS
            )
        return self._validators[pointer]

    def content_type(self, message):
        return message.get("contentType") or self.doc.get("defaultContentType") or ""


def escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def decode(record):
    """The record's key, headers (a dict) and value, or the reasons they cannot be read."""
    problems = []
    text = lambda hexed, what: None if hexed is None else utf8(bytes.fromhex(hexed), what, problems)
    key = text(record.get("key"), "key")
    headers = {}
    for name, value in record.get("headers", []):
        if name in headers:
            problems.append(f"header {name} appears twice")
        if value is None:
            problems.append(f"header {name} has no value")
        headers[name] = text(value, f"header {name}")
    value = None if record.get("value") is None else bytes.fromhex(record["value"])
    return key, headers, value, problems


def utf8(raw, what, problems):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{what} is not UTF-8")
        return raw.decode("utf-8", "replace")


def errors_against(contract, pointer, message, key, headers, value):
    """Why `message` does not accept the record (empty: it does)."""
    errors = []
    if "headers" in message:
        errors += [f"headers: {e.message}" for e in contract.validator(f"{pointer}/headers").iter_errors(headers)]
    if "key" in message.get("bindings", {}).get("kafka", {}):
        errors += [f"key: {e.message}" for e in contract.validator(f"{pointer}/bindings/kafka/key").iter_errors(key)]
    if "payload" in message and "json" in contract.content_type(message):
        try:
            event = json.loads(value.decode("utf-8"), parse_float=decimal.Decimal, parse_constant=reject_constant)
        except (AttributeError, UnicodeDecodeError, ValueError) as e:
            return errors + [f"value: not JSON ({e})"]
        for e in contract.validator(f"{pointer}/payload").iter_errors(event):
            where = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"value{'/' + where if where else ''}: {e.message}")
    return errors


def check(record, contracts, key, headers, value):
    """None when the record is valid under one of its contracts, else the report."""
    reports = []
    for digest in record["contracts"]:
        contract = contracts[digest]
        candidates = contract.by_topic.get(record["topic"], [])
        if not candidates:
            reports.append(f"  contract {digest}: no channel for topic {record['topic']}")
            continue
        matched = []
        for name, pointer, message in candidates:
            errors = errors_against(contract, pointer, message, key, headers, value)
            if errors:
                reports.append(f"  contract {digest}, message {name}:\n" + "\n".join(f"    {e}" for e in errors[:8]))
            else:
                matched.append(name)
        if len(matched) == 1:
            return None
        if len(matched) > 1:
            reports.append(f"  contract {digest}: several messages accept it ({', '.join(matched)}); exactly one must")
    if not record["contracts"]:
        reports.append("  no gateway registered a contract for this broker")
    return "\n".join(reports)


def describe(record):
    return f"{record['test']}: {record['topic']}[{record['partition']}]@{record['offset']}"


def mutations(headers, value):
    """Broken variants of a valid record: (what, key change, headers, value)."""
    out = []
    if headers.get("content-type", "").startswith("application/cloudevents+json"):
        event = json.loads(value)

        def changed(what, f):
            e = copy.deepcopy(event)
            f(e)
            out.append((what, headers, json.dumps(e).encode()))

        changed("specversion dropped", lambda e: e.pop("specversion"))
        changed("an attribute the contract does not name", lambda e: e.update(extra="x"))
        changed("type changed", lambda e: e.update(type=e["type"] + ".other"))
        changed("data not an object", lambda e: e.update(data="text"))
        changed("time not RFC 3339", lambda e: e.update(time="yesterday"))
        changed("id not 32 hex digits", lambda e: e.update(id="x" * 32))
        dropped = {k: v for k, v in headers.items() if k != "event-type"}
        out.append(("event-type header dropped", dropped, value))
    elif "x-deadletter-reason" in headers:
        out.append(("unknown dead-letter reason", {**headers, "x-deadletter-reason": "bogus"}, value))
        extra = {**headers, "ce_type": "x"}
        out.append(("a header the contract does not name", extra, value))
    return out


def main():
    if len(sys.argv) != 2:
        fail("usage: validate_records.py DIR")
    root = sys.argv[1]
    contracts = {}
    for path in glob.glob(os.path.join(root, "contracts", "*.json")):
        digest = os.path.basename(path)[: -len(".json")]
        with open(path, encoding="utf-8") as f:
            contracts[digest] = Contract(digest, json.load(f))
    records = []
    for path in sorted(glob.glob(os.path.join(root, "records-*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    if not records:
        fail(f"no record in {root}: did the integration tests run with CONTRACT_RECORDS_DIR set?")

    invalid = 0
    seen = collections.Counter()
    tests = set()
    samples = {}
    for record in records:
        tests.add(record["test"])
        key, headers, value, problems = decode(record)
        report = check(record, contracts, key, headers, value)
        if problems or report:
            invalid += 1
            print(f"INVALID {describe(record)}")
            for p in problems:
                print(f"  {p}")
            if report:
                print(report)
            continue
        kind = headers.get("event-type") or "deadletter"
        seen[kind] += 1
        samples.setdefault(kind, (record, key, headers, value))

    print(f"{len(records)} records from {len(tests)} tests against {len(contracts)} contracts: {invalid} invalid")
    for kind, n in sorted(seen.items()):
        print(f"  {n:6} {kind}")

    # Prove that the validation can fail: each mutation of a valid record must be rejected.
    accepted = 0
    tried = 0
    for record, key, headers, value in samples.values():
        for what, bad_headers, bad_value in mutations(headers, value):
            tried += 1
            if check(record, contracts, key, bad_headers, bad_value) is None:
                accepted += 1
                print(f"ACCEPTED A BROKEN RECORD ({what}): {describe(record)}")
    if tried == 0:
        fail("no CloudEvent or dead-letter record to prove the validation on")
    print(f"{tried} broken variants of real records: {tried - accepted} rejected")

    if invalid or accepted:
        sys.exit(1)
    return 0


if __name__ == "__main__":
    # The suite publishes a body nested 100 000 levels deep (hostile_input): Python's
    # JSON parser recurses per level, so it parses on a thread with room for that.
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(1 << 30)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(main()))
    worker.start()
    worker.join()
    if not outcome:
        sys.exit(1)  # main failed (its message or traceback is printed)

// Reads Kafka records with the CloudEvents JavaScript SDK's automatic reader,
// as a consumer would: Kafka.toEvent (npm cloudevents), which picks the mode
// from the content type. Prints, per record, one JSON line with what the
// consumer gets: id, type, source, subject, and data (`data_bytes`, base64,
// when the SDK hands over bytes), or `error` when the SDK refuses the record
// or its own validation rejects the event.
//
// The integration test (tests/it/sdk_readers.rs) compares these lines with
// what the gateway meant.
//
//   node scripts/contract/read-with-sdk.mjs RECORDS.jsonl
// RECORDS.jsonl: one record per line, as tests/it/common/records.rs writes
// them (key, headers as [name, value] pairs, value; bytes in hex).
import { readFileSync } from 'node:fs';
import { Kafka } from 'cloudevents';

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: read-with-sdk.mjs RECORDS.jsonl');
  process.exit(64);
}

// The message as docs/consuming.md shows it built from a KafkaJS message: header
// values as strings (the SDK compares them as text), key as text, value as bytes.
function message(record) {
  const bytes = (hex) => (hex == null ? undefined : Buffer.from(hex, 'hex'));
  const headers = Object.fromEntries(record.headers.map(([name, value]) => [name, (bytes(value) ?? '').toString()]));
  return { key: bytes(record.key)?.toString(), value: bytes(record.value), headers };
}

function seen(event) {
  // Strict validation, against the SDK's own CloudEvents schema: toEvent skips it.
  event.validate();
  const read = { id: event.id, type: event.type, source: event.source, subject: event.subject ?? null };
  if (event.data instanceof Uint8Array) {
    read.data_bytes = Buffer.from(event.data).toString('base64');
  } else {
    read.data = event.data ?? null;
  }
  return read;
}

for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  let read;
  try {
    read = seen(Kafka.toEvent(message(JSON.parse(line))));
  } catch (e) {
    // The SDK refusing a record is an outcome to report, not a crash.
    read = { error: `${e.name}: ${e.message}${e.errors ? ' ' + JSON.stringify(e.errors) : ''}` };
  }
  console.log(JSON.stringify(read));
}

// Parses each AsyncAPI document named on the command line with the official
// parser (@asyncapi/parser, which validates against the specification's JSON
// Schemas and runs its Spectral rules). Prints every diagnostic; exits 1 when
// one has error severity or a document does not parse at all.
//
//   node scripts/contract/parse-asyncapi.mjs contract/asyncapi.json [more.json ...]
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

// Spectral's DiagnosticSeverity: Error 0, Warning 1, Information 2, Hint 3.
const SEVERITY = ['error', 'warning', 'information', 'hint'];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: parse-asyncapi.mjs FILE...');
  process.exit(64);
}
const parser = new Parser();
let failed = false;
for (const file of files) {
  const text = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    const where = (d.path || []).join('/');
    console.log(`${file}: ${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message} at /${where}`);
  }
  if (document === undefined || errors.length > 0) {
    console.log(`${file}: FAIL (${errors.length} error(s)${document === undefined ? ', no document' : ''})`);
    failed = true;
  } else {
    const channels = document.channels().length;
    const messages = document.messages().length;
    console.log(`${file}: ok, AsyncAPI ${document.version()}, ${channels} channels, ${messages} messages`);
  }
}
process.exit(failed ? 1 : 0);

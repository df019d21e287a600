// Signs a webhook as a sender's own Node SDK does, for tests/it/senders.rs.
//
//   node sign.mjs twilio AUTH_TOKEN URL < form-body    prints X-Twilio-Signature (npm twilio)
//
// The form body is read from stdin and given to the SDK as its parameters
// (a repeated name as an array of its values), as an Express handler would.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const [sender, ...args] = process.argv.slice(2);
const body = readFileSync(0, "utf8");

function params(form) {
  const out = {};
  for (const [name, value] of new URLSearchParams(form)) {
    if (name in out) out[name] = [].concat(out[name], value);
    else out[name] = value;
  }
  return out;
}

const signers = {
  twilio([token, url]) {
    const twilio = require("twilio");
    const signature = twilio.getExpectedTwilioSignature(token, url, params(body));
    // The SDK's own validator must accept what it signed.
    if (!twilio.validateRequest(token, signature, url, params(body))) {
      throw new Error("twilio.validateRequest refused its own signature");
    }
    return signature;
  },
};

if (!(sender in signers)) {
  console.error(`sign.mjs: unknown sender ${sender} (known: ${Object.keys(signers).join(", ")})`);
  process.exit(2);
}
console.log(signers[sender](args));

// The e2e bench's peer: a Transfers webhook handler as the providers' Node examples
// write one, if it waited for the broker. Express reads the raw body, the HMAC is
// checked in constant time, the same CloudEvent is written with kafkajs (acks from
// every in-sync replica), and 200 is answered only after kafkajs's acknowledgement
// (503 on a broker error). kafkajs's producer is its default one, as those examples
// use it: not idempotent (tansu 0.6 refuses kafkajs's InitProducerId v0), which
// spares it the producer-id bookkeeping the gateway's librdkafka does. Installed from package-lock.json by the
// test command; run by benches/e2e/peer.rs with PORT, KAFKA_BOOTSTRAP_SERVERS and
// TRANSFERS_SIGNATURE_TOKEN set.

import crypto from "node:crypto";
import express from "express";
import { Kafka, logLevel } from "kafkajs";

const secret = process.env.TRANSFERS_SIGNATURE_TOKEN;
const port = Number(process.env.PORT);
const kafka = new Kafka({
  clientId: "bench-node-handler",
  brokers: [process.env.KAFKA_BOOTSTRAP_SERVERS],
  logLevel: logLevel.NOTHING,
});
const producer = kafka.producer();
await producer.connect();

const app = express();
app.post("/webhooks/transfers", express.raw({ type: () => true, limit: "256kb" }), async (req, res) => {
  const given = Buffer.from(req.get("x-transfers-signature") ?? "", "hex");
  const expected = crypto.createHmac("sha256", secret).update(req.body).digest();
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    return res.status(401).json({ error: "signature_mismatch" });
  }
  let event;
  try {
    event = JSON.parse(req.body);
  } catch {
    return res.status(400).json({ error: "not_json" });
  }
  const id = crypto.createHash("sha256").update("transfers").update(req.body).digest("hex").slice(0, 32);
  const value = JSON.stringify({
    specversion: "1.0",
    id,
    source: "/providers/transfers",
    type: "transfers.payment.completed",
    subject: event.data?.paymentReference,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    provider: "transfers",
    providerevent: event.event,
    receivedat: new Date().toISOString(),
    data: event.data,
  });
  try {
    await producer.send({
      topic: "webhooks.transfers.payment.completed",
      acks: -1,
      messages: [{ key: event.data?.paymentReference ?? id, value }],
    });
    res.status(200).json({ id });
  } catch {
    res.status(503).set("retry-after", "5").json({ error: "broker_unavailable" });
  }
});
app.listen(port, "127.0.0.1", () => console.log("listening"));

'use strict'
// kafkajs idempotent producer (idempotent: true, acks -1) with
// maxInFlightRequests = argv[2] (1..5): sends SENDS batches of PER_SEND
// messages over two partitions, up to maxInFlightRequests sends at a time,
// and prints one `RESULT {json}` line with the offset each value was
// acknowledged at, so that test_idempotence_kafkajs.py can read the topic
// back with librdkafka and check every value is stored once, where the
// broker said. Not named *.test.js: test_kafkajs.py does not run it.

const assert = require('node:assert/strict')
const { kafka, uniqueTopic, main } = require('./common')

const SENDS = 120
const PER_SEND = 25
const PARTITIONS = 2

main(async () => {
  const maxInFlight = parseInt(process.argv[2] || '1', 10)
  assert.ok(maxInFlight >= 1 && maxInFlight <= 5, `maxInFlightRequests ${maxInFlight}`)
  const client = kafka(`idempotent-${maxInFlight}`)
  const admin = client.admin()
  const producer = client.producer({ idempotent: true, maxInFlightRequests: maxInFlight })
  await admin.connect()
  await producer.connect()
  try {
    const topic = uniqueTopic(`js-idem-${maxInFlight}`)
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] }), true)

    const acked = [] // [partition, value, offset]
    const errors = []
    let next = 0
    async function oneSend (s) {
      const partition = s % PARTITIONS
      const messages = []
      for (let i = 0; i < PER_SEND; i++) messages.push({ value: `${partition}:${s}:${i}`, partition })
      try {
        const res = await producer.send({ topic, acks: -1, messages })
        assert.equal(res.length, 1)
        assert.equal(res[0].errorCode, 0)
        const base = Number(res[0].baseOffset)
        messages.forEach((m, i) => acked.push([partition, m.value, base + i]))
      } catch (e) {
        errors.push(`${e.name}: ${e.message}`)
      }
    }
    // maxInFlight workers, each sending the next batch when its last one is acknowledged.
    async function worker () {
      while (next < SENDS) await oneSend(next++)
    }
    const workers = []
    for (let w = 0; w < maxInFlight; w++) workers.push(worker())
    await Promise.all(workers)
    console.log('RESULT ' + JSON.stringify({ topic, partitions: PARTITIONS, sent: SENDS * PER_SEND, acked, errors }))
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
})

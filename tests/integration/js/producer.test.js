'use strict'
// kafkajs producer: acks=all sends, keys, null keys, headers, gzip, a batch
// over two partitions, and producing to a topic that does not exist yet.

const assert = require('node:assert/strict')
const { CompressionTypes } = require('kafkajs')
const { kafka, uniqueTopic, expectRecords, main } = require('./common')

main(async () => {
  const client = kafka('producer')
  const admin = client.admin()
  const producer = client.producer({ allowAutoTopicCreation: true })
  await admin.connect()
  await producer.connect()
  try {
    const topic = uniqueTopic('js-prod')
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true)

    const plain = []
    for (let i = 0; i < 10; i++) {
      plain.push({ key: i === 0 ? null : `k${i}`, value: `v${i}`, headers: { h: `hv${i}` }, partition: 0 })
    }
    let res = await producer.send({ topic, acks: -1, messages: plain })
    assert.deepEqual(res.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset]), [[topic, 0, 0, '0']])

    const gz = []
    for (let i = 10; i < 20; i++) gz.push({ key: `k${i}`, value: `v${i}`.repeat(50), partition: 0 })
    res = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: gz })
    assert.deepEqual(res.map((r) => [r.partition, r.errorCode, r.baseOffset]), [[0, 0, '10']])

    expectRecords(topic, 0, plain.concat(gz).map((m, i) => ({
      offset: i, key: m.key, value: m.value, headers: m.headers ? Object.entries(m.headers) : []
    })))

    // One request for two partitions.
    res = await producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic, messages: [{ value: 'p1-a', partition: 1 }, { value: 'p1-b', partition: 1 }] }]
    })
    assert.deepEqual(res.map((r) => [r.partition, r.errorCode, r.baseOffset]), [[1, 0, '0']])
    expectRecords(topic, 1, [{ offset: 0, key: null, value: 'p1-a', headers: [] },
      { offset: 1, key: null, value: 'p1-b', headers: [] }])

    // A topic nobody created: the producer's metadata request creates it.
    const auto = uniqueTopic('js-auto')
    res = await producer.send({ topic: auto, acks: -1, messages: [{ value: 'auto' }] })
    assert.equal(res[0].errorCode, 0)
    assert.equal(res[0].baseOffset, '0')
    expectRecords(auto, res[0].partition, [{ offset: 0, key: null, value: 'auto', headers: [] }])

    // acks=1 also answers with offsets.
    res = await producer.send({ topic, acks: 1, messages: [{ value: 'acks1', partition: 0 }] })
    assert.equal(res[0].baseOffset, '20')
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
})

'use strict'
// kafkajs transactions, run by tests/integration/test_transactions_kafkajs.py
// (not a *.test.js: its records are checked with read_committed, which the
// generic runner does not do).
//
// A producer with a transactionalId (idempotent, maxInFlightRequests 1):
//   txn 1: records to partitions 0 and 1, sendOffsets for a group, commit
//   txn 2: records to partition 0, abort
//   txn 3: records to partitions 0 and 1, commit
// and, with the argument `fencing`, then a zombie: an open transaction whose
// producer is fenced by a second producer with the same transactionalId;
// the zombie's commit must fail with a fencing error (PRODUCER_FENCED, or
// INVALID_PRODUCER_EPOCH that Kafka answers EndTxn v0-v1 with), and its
// records are aborted.
// Prints one `TXN {json}` line: what read_committed and read_uncommitted
// must find per partition, and the group's committed offset.

const assert = require('node:assert/strict')
const { kafka, uniqueTopic, main, rejects, errorTypes } = require('./common')

main(async () => {
  const client = kafka('txn')
  const admin = client.admin()
  await admin.connect()
  const topic = uniqueTopic('js-txn')
  const group = uniqueTopic('js-txn-group')
  const transactionalId = uniqueTopic('js-tid')
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true)

  const committed = { 0: [], 1: [] }
  const all = { 0: [], 1: [] }
  const msgs = (prefix, partition, n) => {
    const out = []
    for (let i = 0; i < n; i++) out.push({ key: `${prefix}-k${i}`, value: `${prefix}-${partition}-${i}`, partition })
    return out
  }
  const note = (list, keep) => {
    for (const m of list) {
      all[m.partition].push(m.value)
      if (keep) committed[m.partition].push(m.value)
    }
  }

  const producer = client.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const report = () => console.log('TXN ' + JSON.stringify({ topic, group, committed, all, groupOffset: { partition: 0, offset: 42 } }))
  try {
    // 1: commit, with offsets for a group.
    let txn = await producer.transaction()
    let m0 = msgs('t1', 0, 10)
    let m1 = msgs('t1', 1, 5)
    await txn.send({ topic, acks: -1, messages: m0 })
    await txn.send({ topic, acks: -1, messages: m1 })
    await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '42' }] }] })
    await txn.commit()
    note(m0, true)
    note(m1, true)

    // 2: abort (kafkajs sends at once: the records are in the partition).
    txn = await producer.transaction()
    m0 = msgs('t2', 0, 6)
    await txn.send({ topic, acks: -1, messages: m0 })
    await txn.abort()
    note(m0, false)

    // 3: commit again.
    txn = await producer.transaction()
    m0 = msgs('t3', 0, 4)
    m1 = msgs('t3', 1, 4)
    await txn.sendBatch({ acks: -1, topicMessages: [{ topic, messages: m0.concat(m1) }] })
    await txn.commit()
    note(m0, true)
    note(m1, true)

    // 4: a zombie fenced by a new producer with the same transactionalId.
    if (process.argv[2] !== 'fencing') {
      report()
      return
    }
    const zombieTxn = await producer.transaction()
    m1 = msgs('zombie', 1, 3)
    await zombieTxn.send({ topic, acks: -1, messages: m1 })
    note(m1, false)
    const successor = client.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
    await successor.connect()
    try {
      const sTxn = await successor.transaction() // InitProducerId: fences the zombie, aborts its transaction
      const e = await rejects(zombieTxn.commit(), 'the fenced producer\'s commit')
      const types = errorTypes(e)
      assert.ok(types.some((t) => t === 'PRODUCER_FENCED' || t === 'INVALID_PRODUCER_EPOCH'),
        `expected a fencing error, got ${types} (${e.message})`)
      m1 = msgs('successor', 1, 2)
      await sTxn.send({ topic, acks: -1, messages: m1 })
      await sTxn.commit()
      note(m1, true)
    } finally {
      await successor.disconnect()
    }
  } finally {
    await producer.disconnect().catch(() => {})
    await admin.disconnect()
  }
  if (process.argv[2] === 'fencing') report()
})

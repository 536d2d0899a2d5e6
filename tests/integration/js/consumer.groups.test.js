'use strict'
// kafkajs consumer in a group (needs FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, OffsetCommit, OffsetFetch): reads what it produced, commits,
// and a second consumer of the same group starts after the committed offset.

const assert = require('node:assert/strict')
const { kafka, uniqueTopic, main } = require('./common')

async function consumeN (client, groupId, topic, n) {
  const consumer = client.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value.toString())
        if (got.length === n) resolve()
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  return got
}

main(async () => {
  const client = kafka('consumer')
  const producer = client.producer()
  await producer.connect()
  const topic = uniqueTopic('js-group')
  const groupId = uniqueTopic('js-group-id')
  await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3, 4].map((i) => ({ value: `g${i}` })) })
  assert.deepEqual(await consumeN(client, groupId, topic, 5), ['g0', 'g1', 'g2', 'g3', 'g4'])
  await producer.send({ topic, acks: -1, messages: [{ value: 'g5' }] })
  assert.deepEqual(await consumeN(client, groupId, topic, 1), ['g5'])
  await producer.disconnect()
}, 55000)

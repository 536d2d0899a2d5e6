'use strict'
// kafkajs admin: createTopics (and validateOnly, duplicates, bad names),
// fetchTopicMetadata, createPartitions, fetchTopicOffsets,
// fetchTopicOffsetsByTimestamp, describeCluster, describeConfigs, deleteTopics.

const assert = require('node:assert/strict')
const { ConfigResourceTypes } = require('kafkajs')
const { kafka, uniqueTopic, main, rejects, errorTypes } = require('./common')

main(async () => {
  const client = kafka('admin')
  const admin = client.admin()
  const producer = client.producer()
  await admin.connect()
  await producer.connect()
  try {
    const topic = uniqueTopic('js-admin')
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), true)
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false, 'duplicate create')
    assert.ok((await admin.listTopics()).includes(topic))

    const validated = uniqueTopic('js-validate')
    await admin.createTopics({ topics: [{ topic: validated }], validateOnly: true, waitForLeaders: false })
    assert.ok(!(await admin.listTopics()).includes(validated), 'validateOnly created the topic')

    let e = await rejects(admin.createTopics({ topics: [{ topic: 'bad/name' }] }), 'creating bad/name')
    assert.deepEqual(errorTypes(e), ['INVALID_TOPIC_EXCEPTION'])

    e = await rejects(admin.createTopics({ topics: [{ topic: uniqueTopic('rf'), replicationFactor: 2 }] }),
      'creating with replication factor 2')
    assert.deepEqual(errorTypes(e), ['INVALID_REPLICATION_FACTOR'])

    let md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.equal(md.topics.length, 1)
    assert.deepEqual(md.topics[0].partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr])
      .sort((a, b) => a[0] - b[0]), [[0, 1, [1], [1]], [1, 1, [1], [1]], [2, 1, [1], [1]]])

    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] })
    md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.equal(md.topics[0].partitions.length, 5)
    e = await rejects(admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] }), 'shrinking partitions')
    assert.deepEqual(errorTypes(e), ['INVALID_PARTITIONS'])

    const base = 1700000000000
    const messages = []
    for (let i = 0; i < 5; i++) messages.push({ value: `m${i}`, partition: 0, timestamp: String(base + i * 1000) })
    await producer.send({ topic, acks: -1, messages })
    const offsets = await admin.fetchTopicOffsets(topic)
    const byPartition = Object.fromEntries(offsets.map((o) => [o.partition, [o.low, o.high]]))
    assert.deepEqual(byPartition, { 0: ['0', '5'], 1: ['0', '0'], 2: ['0', '0'], 3: ['0', '0'], 4: ['0', '0'] })

    let byTime = await admin.fetchTopicOffsetsByTimestamp(topic, base + 2500)
    assert.equal(byTime.find((o) => o.partition === 0).offset, '3')
    // After the last timestamp kafkajs substitutes the high watermark.
    byTime = await admin.fetchTopicOffsetsByTimestamp(topic, base + 60000)
    assert.equal(byTime.find((o) => o.partition === 0).offset, '5')

    const cluster = await admin.describeCluster()
    assert.equal(cluster.controller, 1)
    assert.ok(cluster.clusterId, 'cluster id')
    assert.deepEqual(cluster.brokers.map((b) => [b.nodeId, b.host, b.port]),
      [[1, '127.0.0.1', Number(process.env.RUNNEL_BOOTSTRAP.split(':')[1])]])

    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }]
    })
    const entries = Object.fromEntries(configs.resources[0].configEntries.map((c) => [c.configName, c.configValue]))
    assert.equal(configs.resources[0].errorCode, 0)
    assert.equal(entries['cleanup.policy'], 'delete')
    assert.ok('retention.ms' in entries, 'retention.ms in topic configs')

    const brokerConfigs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: '1' }]
    })
    const brokerEntries = Object.fromEntries(
      brokerConfigs.resources[0].configEntries.map((c) => [c.configName, c.configValue]))
    assert.equal(brokerEntries['num.partitions'], '1')

    await admin.deleteTopics({ topics: [topic] })
    assert.ok(!(await admin.listTopics()).includes(topic), 'deleted topic still listed')

    e = await rejects(admin.deleteTopics({ topics: [uniqueTopic('never')] }), 'deleting an unknown topic')
    assert.ok(errorTypes(e).includes('UNKNOWN_TOPIC_OR_PARTITION') ||
      /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic-partition/.test(String(e)), String(e))
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
})

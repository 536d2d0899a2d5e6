'use strict'
// A kafkajs group member driven by tests/integration/test_groups.py (not a
// *.test.js script: test_kafkajs.py does not run it on its own).
//
//   node groups_member.js '{"bootstrap": ..., "group": ..., "topics": [...],
//                           "sessionTimeout": 10000, "heartbeatInterval": 500,
//                           "maxBatch": 500, "sleepMs": 0}'
//
// Prints one JSON line per event on stdout, the same events as the Python
// drivers in test_groups.py:
//   {"ev":"ready"}                                  subscribed
//   {"ev":"assign","parts":[[t,p],...],"incremental":false}   after each join (full assignment)
//   {"ev":"batch","id":n,"recs":[[t,p,o],...]}      records handed to the application
//   {"ev":"commit","id":n,"ok":[[t,p]],"err":null}  after the synchronous commit of that batch
//   {"ev":"closed"}                                 after disconnect (LeaveGroup) on SIGTERM
// Offsets are resolved only after their commit succeeded, so a failed commit
// (a rebalance) makes kafkajs fetch those records again, or their new owner
// read them from the committed offset.
//
// The assigner is named "roundrobin" and computes Kafka's RoundRobinAssignor
// (members sorted by id, partitions sorted by topic then number, dealt in
// turn): kafkajs' own is called "RoundRobinAssigner", which librdkafka and
// kafka-python do not offer, and a group only forms on a common protocol.

const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')

const args = JSON.parse(process.argv[2])

function emit (o) {
  process.stdout.write(JSON.stringify(o) + '\n')
}

const RoundRobin = ({ cluster }) => ({
  name: 'roundrobin',
  version: 0,
  async assign ({ members, topics }) {
    const ids = members.map((m) => m.memberId).sort()
    const subs = {}
    for (const m of members) {
      subs[m.memberId] = AssignerProtocol.MemberMetadata.decode(m.memberMetadata).topics
    }
    const parts = []
    for (const t of [...topics].sort()) {
      const ps = cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId).sort((a, b) => a - b)
      for (const p of ps) parts.push([t, p])
    }
    const out = {}
    for (const id of ids) out[id] = {}
    let i = 0
    for (const [t, p] of parts) {
      // next member (in turn) subscribed to t
      for (let k = 0; k < ids.length; k++) {
        const id = ids[(i + k) % ids.length]
        if (subs[id].includes(t)) {
          ;(out[id][t] = out[id][t] || []).push(p)
          i = (i + k + 1) % ids.length
          break
        }
      }
    }
    return ids.map((id) => ({
      memberId: id,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: out[id], userData: Buffer.alloc(0) })
    }))
  },
  protocol ({ topics }) {
    return { name: 'roundrobin', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }
  }
})

async function main () {
  const kafka = new Kafka({
    clientId: args.clientId || 'runnel-groups-js',
    brokers: [args.bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  const consumer = kafka.consumer({
    groupId: args.group,
    partitionAssigners: [RoundRobin],
    sessionTimeout: args.sessionTimeout || 10000,
    rebalanceTimeout: args.rebalanceTimeout || 20000,
    heartbeatInterval: args.heartbeatInterval || 500,
    maxBytesPerPartition: args.maxBytesPerPartition || 1048576,
    // disconnect() waits for the fetch in flight: keep the long poll short so
    // that close() sends its LeaveGroup promptly
    maxWaitTimeInMs: args.maxWaitTimeInMs || 500,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  let stopping = false
  let nextBatch = 0
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const parts = []
    for (const [t, ps] of Object.entries(e.payload.memberAssignment)) for (const p of ps) parts.push([t, p])
    emit({ ev: 'assign', parts, incremental: false })
  })
  consumer.on(consumer.events.CRASH, (e) => emit({ ev: 'error', err: String(e.payload.error) }))
  await consumer.connect()
  for (const t of args.topics) await consumer.subscribe({ topic: t, fromBeginning: true })
  emit({ ev: 'ready' })
  const stop = async () => {
    if (stopping) return
    stopping = true
    try {
      await consumer.disconnect()
    } finally {
      emit({ ev: 'closed' })
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return
      const msgs = batch.messages.slice(0, args.maxBatch || 500)
      const id = nextBatch++
      emit({ ev: 'batch', id, recs: msgs.map((m) => [batch.topic, batch.partition, Number(m.offset)]) })
      const last = msgs[msgs.length - 1].offset
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last) + 1) }])
      } catch (e) {
        emit({ ev: 'commit', id, ok: [], err: String(e && e.type ? e.type : e) })
        throw e
      }
      emit({ ev: 'commit', id, ok: [[batch.topic, batch.partition]], err: null })
      resolveOffset(last)
      await heartbeat()
      if (args.sleepMs) await new Promise((resolve) => setTimeout(resolve, args.sleepMs))
    }
  })
}

main().catch((e) => {
  emit({ ev: 'error', err: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})

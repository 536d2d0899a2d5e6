'use strict'
// Shared set-up for the kafkajs tests: a client for the broker named by
// RUNNEL_BOOTSTRAP, a hard timeout, and `expect` lines that let the pytest
// runner (test_kafkajs.py) read the produced records back with librdkafka.

const { Kafka, logLevel } = require('kafkajs')

function kafka (name, extra = {}) {
  const bootstrap = process.env.RUNNEL_BOOTSTRAP
  if (!bootstrap) {
    console.error('RUNNEL_BOOTSTRAP is not set (run through tests/integration/test_kafkajs.py)')
    process.exit(2)
  }
  return new Kafka({
    clientId: `runnel-js-${name}`,
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    ...extra
  })
}

function uniqueTopic (prefix) {
  return `${prefix}-${Math.random().toString(16).slice(2, 12)}`
}

// Records the pytest side must find at these offsets: one JSON line each.
function expectRecords (topic, partition, records) {
  console.log('EXPECT ' + JSON.stringify({ topic, partition, records }))
}

// Runs fn; exits 0 when it resolves, 1 when it throws, 3 on timeout.
function main (fn, timeoutMs = 45000) {
  const timer = setTimeout(() => {
    console.error(`timed out after ${timeoutMs} ms`)
    process.exit(3)
  }, timeoutMs)
  fn().then(() => {
    clearTimeout(timer)
    process.exit(0)
  }, (e) => {
    console.error(e && e.stack ? e.stack : e)
    if (e && e.errors) console.error(JSON.stringify(e.errors))
    process.exit(1)
  })
}

// Awaits p, which must reject; returns the error.
async function rejects (p, what) {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error(`expected ${what} to fail, it succeeded`)
}

// The Kafka error type names inside a kafkajs error (aggregate or single).
function errorTypes (e) {
  if (e.errors) return e.errors.map((x) => x.type)
  if (e.originalError) return errorTypes(e.originalError)
  return [e.type]
}

module.exports = { kafka, uniqueTopic, expectRecords, main, rejects, errorTypes }

'use strict'
// The venue as a child process. Standard input: the first line is the venue's options as
// JSON (credentials travel here, never on the command line); each later line is a request
// {"id": n, "cmd": "...", "args": {...}}. Standard output: one JSON line per event or
// answer: {"event": "ready", "port": p, ...} once listening, then {"id": n, "ok": true,
// "result": ...} or {"id": n, "ok": false, "error": "..."}. End of input stops the venue.

require('reflect-metadata')
const readline = require('readline')
const { Venue, orderView } = require('./venue')

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function commands (venue) {
  const order = (cid) => {
    const o = venue.engine.orders.get(cid)
    return o ? orderView(o) : null
  }
  return {
    status: () => venue.status(),
    drop_connections: ({ refuse_for: refuseFor = 0 } = {}) => venue.dropConnections(refuseFor),
    refuse_logons: ({ seconds }) => venue.refuseLogons(seconds),
    bad_credentials: ({ on = true } = {}) => venue.setBadCredentials(on),
    send_malformed: () => venue.sendMalformed(),
    lose_orders: ({ n = 1 } = {}) => venue.loseOrders(n),
    skip_sequence_number: () => venue.skipSequenceNumber(),
    orders_received_count: ({ cl_ord_id: cid }) => venue.engine.received.get(cid) || 0,
    orders_received: () => Object.fromEntries(venue.engine.received),
    fills: () => venue.engine.fills,
    fills_of: ({ cl_ord_id: cid }) => venue.engine.fills.filter(f => f.client_order_id === cid),
    order: ({ cl_ord_id: cid }) => order(cid),
    orders: () => [...new Set(venue.engine.orders.values())].filter(o => o.owner !== null).map(orderView),
    book_levels: ({ symbol }) => venue.bookLevels(symbol),
    fill: ({ cl_ord_id: cid, quantity = null, price = null }) => venue.fill(cid, quantity, price),
    external_order: (args) => venue.externalOrder(args),
    inject_market_data: ({ symbol, kind }) => venue.injectMarketData(symbol, kind),
    md_history: ({ symbol = null, since = 0 } = {}) => {
      const items = venue.history.slice(since)
      return { next: since + items.length, items: symbol ? items.filter(r => r.symbol === symbol) : items }
    },
    sessions_logged_on: () => venue.sessions.size,
    stop: async () => { await venue.stop(); return true }
  }
}

async function main () {
  const lines = readline.createInterface({ input: process.stdin, terminal: false })
  let venue = null
  let table = null
  let stopping = false
  const finish = async (code) => {
    if (stopping) return
    stopping = true
    if (venue) await venue.stop().catch(() => {})
    process.exit(code)
  }
  // A test venue that dies takes the evidence with it: what escaped every handler is
  // logged with its stack and counted (status().counters.uncaught, which tests check is 0).
  const escaped = (kind) => (e) => {
    if (venue) venue.count('uncaught')
    process.stderr.write(`[jsvenue error] ${kind}: ${e && e.stack ? e.stack : e}\n`)
  }
  process.on('uncaughtException', escaped('uncaught exception'))
  process.on('unhandledRejection', escaped('unhandled rejection'))
  process.stdout.on('error', () => { finish(0) }) // the driver is gone
  process.on('SIGTERM', () => { finish(0) })
  process.on('SIGINT', () => { finish(0) })
  lines.on('close', () => { finish(0) })
  for await (const line of lines) {
    if (!line.trim()) continue
    if (venue === null) {
      try {
        venue = new Venue(JSON.parse(line))
        const port = await venue.start()
        table = commands(venue)
        venue.onExpired = () => { finish(0) }
        out({ event: 'ready', port, pid: process.pid, version: venue.version, dictionary: venue.dictionary.file })
      } catch (e) {
        out({ event: 'failed', error: e.message })
        process.exit(2)
      }
      continue
    }
    let request
    try {
      request = JSON.parse(line)
    } catch (e) {
      out({ id: null, ok: false, error: `not JSON: ${e.message}` })
      continue
    }
    const handler = table[request.cmd]
    if (!handler) {
      out({ id: request.id, ok: false, error: `unknown command ${request.cmd}` })
      continue
    }
    try {
      const result = await handler(request.args || {})
      out({ id: request.id, ok: true, result: result === undefined ? null : result })
    } catch (e) {
      out({ id: request.id, ok: false, error: e.message })
    }
    if (request.cmd === 'stop') await finish(0)
  }
}

main()

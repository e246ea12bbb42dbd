'use strict'
// Faults a venue injects on command: malformed application messages, and market-data
// inconsistencies (a change or delete of a level / entry / position the book does not have,
// a crossed book, a RptSeq gap). The venue's own book never changes: the record keeps the
// true book after the faulty message, flagged `injected`.

const enc = require('./encode')

/** Malformed application messages to every session (see the Python driver). */
function sendMalformed (venue) {
  let n = 0
  const symbol = [...venue.engine.books.keys()][0]
  for (const session of venue.sessions.values()) {
    const base = { orderId: 'V0', symbol, side: '1', leaves: 0, cum: 0, avgPx: 0 }
    venue.send(session, '8', enc.executionReport(venue.version, { ...base, clOrdId: 'NOSUCHORDER', execId: venue.engine.nextExecId(), execType: '0', ordStatus: '0' }))
    venue.send(session, '8', enc.executionReport(venue.version, { ...base, clOrdId: 'NOSUCHORDER2', execId: venue.engine.nextExecId(), execType: 'F', ordStatus: '2', cum: 1, avgPx: 1 }))
    venue.send(session, '8', enc.executionReport(venue.version, { ...base, clOrdId: 'NOSUCHORDER3', execId: venue.engine.nextExecId(), execType: '0', ordStatus: 'Z' }))
    n += 3
    for (const [sym, subs] of venue.subs) {
      const reqId = subs.get(session)
      if (reqId === undefined) continue
      n += injectTo(venue, session, reqId, sym, 'delete_unknown')
      break
    }
  }
  return n
}

/**
 * A market-data inconsistency to every subscriber of `symbol`: `change_unknown`,
 * `delete_unknown` (a level / entry / position the book does not have), `crossed` (a bid
 * at or above the best offer) or `rpt_seq_gap` (the next X skips one RptSeq). The venue's
 * own book does not change: the record keeps the true book, flagged `injected`.
 */
function injectMarketData (venue, symbol, kind) {
  const publisher = venue.publishers.get(symbol)
  if (!publisher) throw new Error(`unknown symbol ${symbol}`)
  if (kind === 'rpt_seq_gap') {
    venue.pendingGap.add(symbol)
    return 1
  }
  let n = 0
  for (const [session, reqId] of venue.subs.get(symbol) || []) n += injectTo(venue, session, reqId, symbol, kind)
  return n
}

function injectTo (venue, session, reqId, symbol, kind) {
  const publisher = venue.publishers.get(symbol)
  const view = publisher.view
  const model = publisher.model
  const far = (view.asks.length ? view.asks[view.asks.length - 1][0] : 0) + 1000
  let entry
  switch (kind) {
    case 'change_unknown':
      entry = { action: '1', type: '1', pt: far, size: 7 }
      if (model === 'entry_id') entry.id = 'NOSUCHENTRY'
      if (model === 'position') entry.level = publisher.depth + 5
      break
    case 'delete_unknown':
      entry = { action: '2', type: '1', pt: far, size: null }
      if (model === 'entry_id') Object.assign(entry, { id: 'NOSUCHENTRY', noPrice: true })
      if (model === 'position') Object.assign(entry, { level: publisher.depth + 5, noPrice: true })
      break
    case 'crossed': {
      const ask = view.asks.length ? view.asks[0][0] : 0
      entry = { action: '0', type: '0', pt: ask + 1, size: 5 }
      if (model === 'entry_id') entry.id = `CROSSED${++venue.mdFaultIds}`
      if (model === 'position') entry.level = 1
      if (model === 'top_of_book') entry.action = '1'
      break
    }
    default:
      throw new Error(`unknown market-data fault ${kind}`)
  }
  if (model === 'snapshot_only') {
    // a W-only feed has no increments to corrupt: a crossed snapshot stands for all kinds
    const entries = publisher.snapshot()
    const ask = view.asks.length ? view.asks[0][0] : 0
    entries.unshift({ action: '0', type: '0', pt: ask + 1, size: 5 })
    venue.sendMd(session, 'W', enc.mdSnapshot(venue.version, reqId, symbol, entries, publisher.rptSeq), symbol, reqId, publisher, kind)
    venue.count(`md_injected_${kind}`)
    return 1
  }
  const rptSeqs = venue.nextRptSeqs(symbol, publisher, 1)
  venue.sendMd(session, 'X', enc.mdIncremental(venue.version, reqId, symbol, [entry], rptSeqs), symbol, reqId, publisher, kind)
  venue.count(`md_injected_${kind}`)
  return 1
}

module.exports = { sendMalformed, injectMarketData }

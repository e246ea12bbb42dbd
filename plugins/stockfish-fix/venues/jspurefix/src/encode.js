'use strict'
// Outgoing application messages as jspurefix objects, per FIX version: FIX 4.2 keeps Symbol
// and OrderQty at the top level; 4.4 and 5.0 SP2 nest them in the Instrument and
// OrderQtyData components and the market-data entries in MDFullGrp / MDIncGrp.
// Prices and quantities go out as exact decimal text (ticks / 100, no exponent).

function px (pt) {
  return (pt / 100).toFixed(2)
}

function qty (value) {
  if (Number.isInteger(value)) return String(value)
  return value.toFixed(8).replace(/0+$/, '').replace(/\.$/, '')
}

function decimal (value) {
  return qty(Math.round(value * 1e8) / 1e8)
}

const instrument = (version, symbol) => version === 'FIX42' ? { Symbol: symbol } : { Instrument: { Symbol: symbol } }
const orderQty = (version, value) => version === 'FIX42' ? { OrderQty: qty(value) } : { OrderQtyData: { OrderQty: qty(value) } }

/** ExecutionReport (8). `r`: the report's fields; execType in 4.4 terms (F = trade, I = status). */
function executionReport (version, r) {
  let execType = r.execType
  const body = {
    OrderID: r.orderId,
    ClOrdID: r.clOrdId,
    OrigClOrdID: r.origClOrdId || undefined,
    ExecID: r.execId
  }
  if (version === 'FIX42') {
    // 4.2 has no ExecType F / I: a trade is 1 / 2 (partial / fill), a status answer is
    // ExecTransType 3 with the status as its ExecType.
    body.ExecTransType = r.execType === 'I' ? '3' : '0'
    if (execType === 'F') execType = r.ordStatus === '2' ? '2' : '1'
    else if (execType === 'I') execType = r.ordStatus
  }
  Object.assign(body, {
    ExecType: execType,
    OrdStatus: r.ordStatus,
    OrdRejReason: r.ordRejReason || undefined,
    ...instrument(version, r.symbol),
    Side: r.side,
    ...(r.qty !== undefined && r.qty !== null ? orderQty(version, r.qty) : {}),
    OrdType: r.ordType || undefined,
    Price: r.pt !== undefined && r.pt !== null ? px(r.pt) : undefined,
    StopPx: r.stopPt !== undefined && r.stopPt !== null ? px(r.stopPt) : undefined,
    TimeInForce: r.tif || undefined,
    // 4.2 calls tag 32 LastShares
    [version === 'FIX42' ? 'LastShares' : 'LastQty']: r.lastQty !== undefined ? qty(r.lastQty) : undefined,
    LastPx: r.lastPt !== undefined ? px(r.lastPt) : undefined,
    LeavesQty: qty(r.leaves),
    CumQty: qty(r.cum),
    AvgPx: decimal(r.avgPx),
    TransactTime: new Date(),
    Text: r.text || undefined
  })
  if (r.massStatusReqId) {
    body.MassStatusReqID = r.massStatusReqId
    body.TotNumReports = r.totNumReports
    body.LastRptRequested = r.lastRpt ? 'Y' : 'N'
  }
  return strip(body)
}

function orderCancelReject (version, r) {
  return strip({
    OrderID: r.orderId || 'NONE',
    ClOrdID: r.clOrdId,
    OrigClOrdID: r.origClOrdId,
    OrdStatus: r.ordStatus,
    CxlRejResponseTo: r.responseTo,
    CxlRejReason: r.reason,
    Text: r.text
  })
}

function businessReject (version, r) {
  return strip({
    RefSeqNum: r.refSeqNum,
    RefMsgType: r.refMsgType,
    BusinessRejectRefID: r.refId,
    BusinessRejectReason: r.reason,
    Text: r.text
  })
}

function sessionReject (version, r) {
  return strip({
    RefSeqNum: r.refSeqNum,
    RefTagID: r.refTagId,
    RefMsgType: r.refMsgType,
    SessionRejectReason: r.reason,
    Text: r.text
  })
}

function mdReject (version, reqId, reason, text) {
  return strip({ MDReqID: reqId, MDReqRejReason: reason, Text: text })
}

function mdEntry (version, e, symbol, incremental, rptSeq) {
  const out = {}
  if (incremental) out.MDUpdateAction = e.action
  out.MDEntryType = e.type
  if (e.id !== undefined) out.MDEntryID = e.id
  if (e.ref !== undefined) out.MDEntryRefID = e.ref
  if (incremental) Object.assign(out, instrument(version, symbol))
  if (!e.noPrice && e.pt !== undefined) out.MDEntryPx = px(e.pt)
  if (e.size !== null && e.size !== undefined) out.MDEntrySize = qty(e.size)
  if (rptSeq !== null) out.RptSeq = rptSeq
  if (e.level !== undefined) out.MDPriceLevel = e.level
  return out
}

/** MarketDataSnapshotFullRefresh (W); every entry carries the snapshot's RptSeq. */
function mdSnapshot (version, reqId, symbol, entries, rptSeq) {
  const group = entries.map(e => mdEntry(version, e, symbol, false, rptSeq))
  if (version === 'FIX42') return { MDReqID: reqId, Symbol: symbol, NoMDEntries: group }
  const body = { MDReqID: reqId, Instrument: { Symbol: symbol }, MDFullGrp: { NoMDEntries: group } }
  if (version === 'FIX50SP2') body.LastUpdateTime = new Date()
  return body
}

/** MarketDataIncrementalRefresh (X); `rptSeqs[i]` is entry i's RptSeq (null: none). */
function mdIncremental (version, reqId, symbol, entries, rptSeqs) {
  const group = entries.map((e, i) => mdEntry(version, e, symbol, true, rptSeqs[i]))
  if (version === 'FIX42') return { MDReqID: reqId, NoMDEntries: group }
  return { MDReqID: reqId, MDIncGrp: { NoMDEntries: group } }
}

function strip (o) {
  for (const key of Object.keys(o)) if (o[key] === undefined || o[key] === null) delete o[key]
  return o
}

module.exports = { px, qty, executionReport, orderCancelReject, businessReject, sessionReject, mdReject, mdSnapshot, mdIncremental }

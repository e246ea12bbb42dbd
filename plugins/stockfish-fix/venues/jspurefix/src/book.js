'use strict'
// One symbol's resting book: orders (the market maker's and the clients') sorted by price,
// then time. Prices are integer ticks; a spread instrument may go below zero.

const BUY = '1'
const SELL = '2'

class OrderBook {
  constructor (symbol) {
    this.symbol = symbol
    this.bids = [] // best (highest) first, then oldest first
    this.asks = [] // best (lowest) first, then oldest first
    this.last = null // { pt, qty }: the last trade
    this.seq = 0
  }

  side (side) { return side === BUY ? this.bids : this.asks }

  insert (order) {
    order.seq = ++this.seq
    const list = this.side(order.side)
    const worse = order.side === BUY ? (o) => o.pt < order.pt : (o) => o.pt > order.pt
    const at = list.findIndex(worse)
    if (at < 0) list.push(order)
    else list.splice(at, 0, order)
  }

  remove (order) {
    const list = this.side(order.side)
    const at = list.indexOf(order)
    if (at >= 0) list.splice(at, 1)
    return at >= 0
  }

  best (side) { return this.side(side)[0] || null }

  /** Aggregated levels [[pt, size], ...] best first (depth 0: all). */
  levels (side, depth = 0) {
    const out = []
    for (const order of this.side(side)) {
      const last = out[out.length - 1]
      if (last && last[0] === order.pt) last[1] += order.leavesQty
      else {
        if (depth && out.length === depth) break
        out.push([order.pt, order.leavesQty])
      }
    }
    return out
  }

  /** Every resting order as an entry: Map entryId -> { side, pt, size }. */
  entries () {
    const out = new Map()
    for (const side of [BUY, SELL]) {
      for (const order of this.side(side)) {
        out.set(order.entryId, { side, pt: order.pt, size: order.leavesQty })
      }
    }
    return out
  }

  /** Quantity available to a taker on `side` at prices no worse than `limitPt` (null: any). */
  available (takerSide, limitPt) {
    let total = 0
    for (const order of this.side(takerSide === BUY ? SELL : BUY)) {
      if (limitPt !== null && (takerSide === BUY ? order.pt > limitPt : order.pt < limitPt)) break
      total += order.leavesQty
    }
    return total
  }
}

module.exports = { OrderBook, BUY, SELL }

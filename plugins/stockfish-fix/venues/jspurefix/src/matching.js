'use strict'
// The matching engine: a market maker quoting a random walk into each symbol's book, client
// orders (market, limit, stop, stop-limit; DAY, GTC, IOC, FOK) matched against it by price
// then time, and the venue's own record of every order, fill and ClOrdID received.
//
// Protocol-free: every call returns events ({ kind, order, ... }) that the venue turns into
// FIX messages, and marks the symbols whose book or trades changed.

const { OrderBook, BUY, SELL } = require('./book')
const { makeRng } = require('./rng')

const EPS = 1e-9
const OPEN = new Set(['0', '1', 'A'])

class VenueOrder {
  constructor (fields) {
    Object.assign(this, fields)
    this.cum = 0
    this.notional = 0
    this.status = '0'
    this.fills = []
    this.triggered = false
    this.resting = false
    this.text = null
  }

  get leavesQty () { return OPEN.has(this.status) ? Math.max(this.qty - this.cum, 0) : 0 }
  get avgPx () { return this.cum > EPS ? this.notional / this.cum : 0 }
  get isOpen () { return OPEN.has(this.status) }
}

/** The order's figures when an event happened (reports are built later, in order). */
function snap (order) {
  return { status: order.status, cum: order.cum, leaves: order.leavesQty, avgPx: order.avgPx, qty: order.qty, pt: order.pt, clOrdId: order.clOrdId }
}

class Engine {
  constructor ({ symbols, spreadSymbols = [], levels = 5, ordersPerLevel = 3, seed = 0, startPrices = {}, tag = '' }) {
    this.rng = makeRng(seed)
    this.levels = levels
    this.ordersPerLevel = ordersPerLevel
    this.tag = tag
    this.spread = new Set(spreadSymbols)
    this.books = new Map()
    this.mid = new Map()
    this.start = new Map()
    this.shown = new Map()
    for (const [i, symbol] of [...symbols, ...spreadSymbols].entries()) {
      this.books.set(symbol, new OrderBook(symbol))
      const start = startPrices[symbol] ?? (this.spread.has(symbol) ? -0.02 : 100 + 50 * i)
      this.mid.set(symbol, Math.round(start * 100))
      this.start.set(symbol, Math.round(start * 100))
    }
    this.orders = new Map() // every ClOrdID an order has had -> order
    this.byOrderId = new Map()
    this.stops = [] // stop orders not triggered yet
    this.received = new Map() // ClOrdID -> NewOrderSingles received
    this.fills = []
    this.changed = new Map() // symbol -> trades [{pt, qty}] since the last publish
    this.ids = { order: 0, exec: 0, entry: 0 }
    for (const symbol of this.books.keys()) this.quote(symbol)
    this.changed.clear()
  }

  nextExecId () { return `JX${this.tag}-${++this.ids.exec}` }
  nextEntryId () { return `E${++this.ids.entry}` }
  touch (symbol) { if (!this.changed.has(symbol)) this.changed.set(symbol, []) }

  /** The symbols changed since the last call, with their trades; clears the list. */
  takeChanges () {
    const out = this.changed
    this.changed = new Map()
    return out
  }

  // -- the market maker ------------------------------------------------------------------
  mmOrder (symbol, side, pt, qty) {
    const order = new VenueOrder({ orderId: null, owner: null, symbol, side, pt, qty, ordType: '2', tif: '1', entryId: this.nextEntryId() })
    this.books.get(symbol).insert(order)
    order.resting = true
    return order
  }

  /** One random-walk step of every symbol's quotes (and what it crosses). */
  step () {
    const events = []
    for (const symbol of this.books.keys()) {
      // mostly a tick at a time; now and then a jump that clears several levels at once
      const move = this.rng.chance(0.08) ? this.rng.pick([-1, 1]) * this.rng.int(2, 4) : this.rng.int(-1, 1)
      let mid = this.mid.get(symbol) + move
      if (!this.spread.has(symbol)) mid = Math.max(mid, this.levels + 2)
      else {
        // a spread stays within 20 ticks of where it started and at or below zero, so its
        // bids are always negative and its offers cross zero now and then
        const start = this.start.get(symbol)
        mid = Math.min(Math.max(mid, start - 20), Math.min(start + 20, 0))
      }
      this.mid.set(symbol, mid)
      this.quote(symbol)
      events.push(...this.uncross(symbol), ...this.triggerStops(symbol))
    }
    return events
  }

  quote (symbol) {
    const book = this.books.get(symbol)
    const mid = this.mid.get(symbol)
    const rng = this.rng
    // How many levels the maker shows per side varies now and then, so the bottom of the
    // book comes and goes several levels at a time too.
    const shown = this.shown.get(symbol) || [this.levels, this.levels]
    if (rng.chance(0.1)) shown[rng.int(0, 1)] = rng.int(Math.max(1, this.levels - 3), this.levels)
    this.shown.set(symbol, shown)
    for (const [side, list, depth] of [[BUY, book.bids, shown[0]], [SELL, book.asks, shown[1]]]) {
      const inBand = side === BUY ? (pt) => pt <= mid - 1 && pt >= mid - depth : (pt) => pt >= mid + 1 && pt <= mid + depth
      for (const order of list.filter(o => o.owner === null && !inBand(o.pt))) {
        book.remove(order)
        this.touch(symbol)
      }
      for (let i = 1; i <= depth; i++) {
        const pt = side === BUY ? mid - i : mid + i
        const here = list.filter(o => o.owner === null && o.pt === pt)
        if (here.length && rng.chance(0.03)) { // the maker pulls a level: a hole in the ladder
          for (const order of here) book.remove(order)
          this.touch(symbol)
        } else if (!here.length) {
          for (let k = rng.int(1, this.ordersPerLevel); k > 0; k--) {
            this.mmOrder(symbol, side, pt, 10 * rng.int(1, 10 + 5 * i))
          }
          this.touch(symbol)
        } else if (rng.chance(0.3)) {
          const order = rng.pick(here)
          const roll = rng.next()
          if (roll < 0.6) {
            const qty = 10 * rng.int(1, 10 + 5 * i)
            if (qty > order.qty) {
              // a larger quote loses its place in the queue and, as on many venues,
              // gets a new entry id: the feed renames it (MDEntryRefID)
              book.remove(order)
              order.renamedFrom = order.renamedFrom ?? order.entryId
              order.entryId = this.nextEntryId()
              order.qty = qty
              book.insert(order)
            } else order.qty = qty
          } else if (roll < 0.8 && here.length < this.ordersPerLevel) {
            this.mmOrder(symbol, side, pt, 10 * rng.int(1, 10))
          } else if (here.length > 1) {
            book.remove(order)
          }
          this.touch(symbol)
        }
      }
    }
  }

  /** Trade whatever crosses after the quotes moved: the older order sets the price. */
  uncross (symbol) {
    const book = this.books.get(symbol)
    const events = []
    for (;;) {
      const bid = book.best(BUY)
      const ask = book.best(SELL)
      if (!bid || !ask || bid.pt < ask.pt) break
      const maker = bid.seq < ask.seq ? bid : ask
      const qty = Math.min(bid.leavesQty, ask.leavesQty)
      events.push(...this.trade(book, bid, ask, qty, maker.pt))
    }
    return events
  }

  // -- client orders ---------------------------------------------------------------------
  /** A NewOrderSingle. `owner` is the client's CompID (reports go to its session). */
  newOrder ({ owner, clOrdId, symbol, side, qty, ordType, pt, stopPt, tif, account, external = false }) {
    this.received.set(clOrdId, (this.received.get(clOrdId) || 0) + 1)
    const reject = (text, reason) => [{ kind: 'reject', owner, clOrdId, symbol, side, qty, text, reason }]
    if (this.orders.has(clOrdId)) return reject('duplicate ClOrdID', '6')
    if (!this.books.has(symbol)) return reject(`unknown symbol ${symbol}`, '1')
    if (!(qty > 0) || !Number.isFinite(qty)) return reject('bad quantity', '13')
    if (!['1', '2', '3', '4'].includes(ordType)) return reject(`unsupported order type ${ordType}`, '99')
    if (![BUY, SELL].includes(side)) return reject(`unsupported side ${side}`, '99')
    const negativeOk = this.spread.has(symbol)
    const goodPx = (v) => v !== null && Number.isFinite(v) && (negativeOk || v > 0)
    if ((ordType === '2' || ordType === '4') && !goodPx(pt)) return reject('bad price', '99')
    if ((ordType === '3' || ordType === '4') && !goodPx(stopPt)) return reject('bad stop price', '99')
    if (!['0', '1', '3', '4'].includes(tif)) return reject(`unsupported time in force ${tif}`, '99')
    const order = new VenueOrder({
      orderId: `JV${this.tag}-${++this.ids.order}`, owner, clOrdId, firstClOrdId: clOrdId, symbol, side, qty, ordType, pt: ordType === '2' || ordType === '4' ? pt : null, stopPt: ordType === '3' || ordType === '4' ? stopPt : null, tif, account, external, entryId: null
    })
    this.orders.set(clOrdId, order)
    this.byOrderId.set(order.orderId, order)
    const events = [{ kind: 'new', order, state: snap(order) }]
    if (ordType === '3' || ordType === '4') {
      this.stops.push(order)
      return events.concat(this.triggerStops(symbol))
    }
    return events.concat(this.execute(order))
  }

  /** Match a (triggered) order as a taker, then rest, cancel or kill what is left. */
  execute (order) {
    const book = this.books.get(order.symbol)
    const limit = order.ordType === '2' || order.ordType === '4' ? order.pt : null
    if (order.tif === '4' && book.available(order.side, limit) < order.qty - order.cum - EPS) {
      return this.cancelled(order, 'fill or kill: not enough quantity')
    }
    const events = []
    const opposite = order.side === BUY ? SELL : BUY
    while (order.leavesQty > EPS) {
      const maker = book.best(opposite)
      if (!maker) break
      if (limit !== null && (order.side === BUY ? maker.pt > limit : maker.pt < limit)) break
      const qty = Math.min(order.leavesQty, maker.leavesQty)
      const [bid, ask] = order.side === BUY ? [order, maker] : [maker, order]
      events.push(...this.trade(book, bid, ask, qty, maker.pt))
    }
    if (!order.isOpen) return events
    if (limit === null) return events.concat(this.cancelled(order, order.cum > 0 ? 'market order: no more liquidity' : 'market order: no liquidity'))
    if (order.tif === '3') return events.concat(this.cancelled(order, 'immediate or cancel'))
    order.entryId = this.nextEntryId()
    book.insert(order)
    order.resting = true
    this.touch(order.symbol)
    return events
  }

  trade (book, bid, ask, qty, pt) {
    const events = []
    for (const order of [bid, ask]) {
      order.cum += qty
      if (order.owner === null) { // the market maker
        order.qty -= qty
        order.cum = 0
      } else {
        order.notional += qty * pt / 100
        order.status = order.cum >= order.qty - EPS ? '2' : '1'
        const fill = {
          exec_id: this.nextExecId(), client_order_id: order.firstClOrdId, cl_ord_id: order.clOrdId, order_id: order.orderId, quantity: qty, price: pt / 100, cum_qty: order.cum, avg_px: order.avgPx, status: order.status
        }
        order.fills.push(fill)
        this.fills.push(fill)
        events.push({ kind: 'fill', order, fill, state: snap(order) })
      }
      if (order.resting && (order.owner === null ? order.qty <= EPS : !order.isOpen)) {
        book.remove(order)
        order.resting = false
      }
    }
    book.last = { pt, qty }
    this.touch(book.symbol)
    this.changed.get(book.symbol).push({ pt, qty })
    return events
  }

  cancelled (order, text, newClOrdId = null, orig = null) {
    order.status = '4'
    order.text = text
    this.unrest(order)
    const prior = order.clOrdId
    if (newClOrdId) {
      order.clOrdId = newClOrdId
      this.orders.set(newClOrdId, order)
    }
    return [{ kind: 'canceled', order, orig: orig ?? (newClOrdId ? prior : null), text, state: snap(order) }]
  }

  unrest (order) {
    if (order.resting) {
      this.books.get(order.symbol).remove(order)
      order.resting = false
      this.touch(order.symbol)
    }
    const at = this.stops.indexOf(order)
    if (at >= 0) this.stops.splice(at, 1)
  }

  find (clOrdId, orderId) {
    let order = clOrdId ? this.orders.get(clOrdId) : undefined
    if (!order && orderId) order = this.byOrderId.get(orderId)
    return order || null
  }

  cancel ({ owner, orig, clOrdId, orderId }) {
    const order = this.find(orig, orderId)
    if (!order || !order.isOpen || order.owner !== owner) {
      return [{ kind: 'cancel_reject', owner, order: order && order.owner === owner ? order : null, clOrdId, orig, responseTo: '1', text: !order || order.owner !== owner ? 'unknown order' : 'too late to cancel' }]
    }
    return this.cancelled(order, null, clOrdId, order.clOrdId)
  }

  replace ({ owner, orig, clOrdId, orderId, qty, pt }) {
    const order = this.find(orig, orderId)
    const refuse = (text) => [{ kind: 'cancel_reject', owner, order: order && order.owner === owner ? order : null, clOrdId, orig, responseTo: '2', text }]
    if (!order || order.owner !== owner) return refuse('unknown order')
    if (!order.isOpen) return refuse('too late to replace')
    if (this.orders.has(clOrdId)) return refuse('duplicate ClOrdID')
    if (qty !== null && qty <= order.cum + EPS) return refuse('quantity not above the filled quantity')
    const negativeOk = this.spread.has(order.symbol)
    if (pt !== null && (order.ordType === '2' || order.ordType === '4') &&
        (!Number.isFinite(pt) || (!negativeOk && !(pt > 0)))) return refuse('bad price')
    if (qty !== null && !Number.isFinite(qty)) return refuse('bad quantity')
    const requeue = (pt !== null && pt !== order.pt && order.pt !== null) || (qty !== null && qty > order.qty)
    if (requeue) this.unrest(order)
    if (pt !== null && order.pt !== null) order.pt = pt
    if (qty !== null) order.qty = qty
    const prior = order.clOrdId
    order.clOrdId = clOrdId
    this.orders.set(clOrdId, order)
    if (order.resting) this.touch(order.symbol) // the size shown changed
    const events = [{ kind: 'replaced', order, orig: prior, state: snap(order) }]
    if (!requeue) return events
    if (order.stopPt !== null && !order.triggered) {
      this.stops.push(order)
      return events.concat(this.triggerStops(order.symbol))
    }
    return events.concat(this.execute(order))
  }

  triggerStops (symbol) {
    const book = this.books.get(symbol)
    const events = []
    for (const order of this.stops.filter(o => o.symbol === symbol)) {
      const bid = book.best(BUY)
      const ask = book.best(SELL)
      const hit = order.side === BUY ? ask && ask.pt >= order.stopPt : bid && bid.pt <= order.stopPt
      if (!hit) continue
      this.stops.splice(this.stops.indexOf(order), 1)
      order.triggered = true
      events.push(...this.execute(order))
    }
    return events
  }

  /** A fill made by hand (tests): `qty` of the order at `pt` (default: its limit or the touch). */
  manualFill (order, qty, pt) {
    if (!order.isOpen) return []
    const book = this.books.get(order.symbol)
    const touch = book.best(order.side === BUY ? SELL : BUY)
    const price = pt ?? order.pt ?? (touch ? touch.pt : this.mid.get(order.symbol))
    const contra = new VenueOrder({ owner: null, symbol: order.symbol, side: order.side === BUY ? SELL : BUY, qty: Math.min(qty, order.leavesQty), pt: price })
    const [bid, ask] = order.side === BUY ? [order, contra] : [contra, order]
    return this.trade(book, bid, ask, contra.qty, price)
  }

  /** Open orders of `owner` (for mass status). */
  openOrders (owner) {
    const seen = new Set()
    const out = []
    for (const order of this.orders.values()) {
      if (order.owner === owner && order.isOpen && !seen.has(order)) {
        seen.add(order)
        out.push(order)
      }
    }
    return out
  }
}

module.exports = { Engine, VenueOrder }

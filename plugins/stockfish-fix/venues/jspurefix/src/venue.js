'use strict'
// The venue: a loopback TCP listener whose connections run VenueSession, the matching
// engine, market data per book model, fault injection and the record the tests read.

require('reflect-metadata') // jspurefix's dependency injection needs it loaded first
const fs = require('fs')
const net = require('net')
const { SessionContainer, MsgTransport, TcpDuplex } = require('jspurefix')
const { makeSessionScope } = require('jspurefix/dist/runtime/session-scope')
const { buildDictionary } = require('./dictionary')
const { StderrLogFactory } = require('./logging')
const { Engine } = require('./matching')
const { Publisher, MODELS } = require('./models')
const { VenueSession } = require('./session')
const enc = require('./encode')
const faults = require('./faults')
const { VenueStores } = require('./stores')

const BEGIN_STRINGS = { FIX42: 'FIX.4.2', FIX44: 'FIX.4.4', FIX50SP2: 'FIXT.1.1' }
const BUSINESS_REJECT_SYMBOL = 'JREJECT'
const SESSION_REJECT_SYMBOL = 'SREJECT'
const HISTORY_LIMIT = 500000

const DEFAULTS = {
  version: 'FIX44',
  port: 0,
  comp_id: 'VENUE',
  clients: ['CLIENT'],
  username: null,
  password: null,
  heartbeat_interval: 1,
  symbols: ['AAA', 'BBB'],
  spread_symbols: ['SPRD'],
  book_model: 'price_level', // or { symbol: model }
  depth: 10,
  levels: 5,
  orders_per_level: 3,
  tick_interval: 0.05,
  seed: 0,
  start_prices: {},
  store: 'memory', // or 'file' (in store_path)
  store_path: '',
  reset_on_logon: false,
  low_seq_logon: 'logout', // or 'drop'
  mass_status: true,
  status_repeats_fills: false,
  market_data: true,
  max_runtime: 900,
  verbose: false
}

class Venue {
  constructor (options) {
    const unknown = Object.keys(options).filter(k => !(k in DEFAULTS))
    if (unknown.length) throw new Error(`unknown venue option(s): ${unknown.join(', ')}`)
    this.options = { ...DEFAULTS, ...options }
    const o = this.options
    if (!BEGIN_STRINGS[o.version]) throw new Error(`version: expected one of ${Object.keys(BEGIN_STRINGS).join(', ')}, got ${o.version}`)
    this.version = o.version
    this.tag = `${process.pid % 1000}${Date.now() % 100000}`
    this.engine = new Engine({
      symbols: o.symbols, spreadSymbols: o.spread_symbols, levels: o.levels, ordersPerLevel: o.orders_per_level, seed: o.seed, startPrices: o.start_prices, tag: this.tag
    })
    this.publishers = new Map()
    for (const symbol of this.engine.books.keys()) {
      const model = typeof o.book_model === 'string' ? o.book_model : (o.book_model[symbol] || 'price_level')
      if (!MODELS.includes(model)) throw new Error(`book_model: expected one of ${MODELS.join(', ')}, got ${model}`)
      this.publishers.set(symbol, new Publisher(model, this.engine.books.get(symbol), o.depth))
    }
    this.sessions = new Map() // CompID -> the logged-on session
    this.connections = new Set() // every live VenueSession
    this.sockets = new Set() // every accepted socket (a stop must not wait on one)
    this.subs = new Map() // symbol -> Map(session -> MDReqID)
    this.sent = new Map() // CompID -> Map(MsgSeqNum -> { msgType, obj, time })
    this.stores = null // VenueStores, from start()
    this.counters = {}
    this.errors = []
    this.history = [] // market data the venue sent, with its book after each message
    this.refuseUntil = 0
    this.badCredentials = false
    this.pendingGap = new Set() // symbols whose next X skips a RptSeq
    this.ordersToLose = 0 // NewOrderSingles to ignore, as if lost on the way
    this.mdFaultIds = 0 // entry ids of injected crossed entries
    this.logons = 0
    this.nextTransport = 0
    this.dictionary = null
  }

  count (name, n = 1) { this.counters[name] = (this.counters[name] || 0) + n }
  error (text) {
    this.errors.push(text)
    if (this.errors.length > 1000) this.errors.shift()
  }

  // ---------------------------------------------------------------------- lifecycle
  async start () {
    const o = this.options
    this.dictionary = buildDictionary(o.version)
    const description = {
      application: { type: 'acceptor', name: 'jsvenue', protocol: 'ascii', dictionary: this.dictionary.file, tcp: { host: '127.0.0.1', port: o.port } },
      BeginString: BEGIN_STRINGS[o.version],
      SenderCompId: o.comp_id,
      TargetCompID: '*',
      HeartBtInt: o.heartbeat_interval,
      ResetSeqNumFlag: !!o.reset_on_logon,
      Logon: o.version === 'FIX50SP2' ? { DefaultApplVerID: '9' } : {}
    }
    const container = new SessionContainer()
    container.registerGlobal(new StderrLogFactory(o.verbose))
    const system = await container.makeSystem(description)
    this.config = system.resolve('IJsFixConfig')
    this.stores = new VenueStores(o.store, o.store_path, (text) => this.error(text))
    this.config.sessionStoreFactory = this.stores
    this.server = net.createServer((socket) => this.accept(socket))
    await new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ host: '127.0.0.1', port: o.port }, resolve)
    })
    this.server.on('error', (e) => this.error(`listener: ${e.message}`))
    this.port = this.server.address().port
    this.startedAt = Date.now()
    this.ticker = setInterval(() => this.guard('tick', () => this.tick()), Math.max(1, o.tick_interval * 1000))
    // bounded: past max_runtime the venue stops by itself, and so does its process
    this.deadline = setTimeout(() => { this.stop().then(() => this.onExpired && this.onExpired()) }, o.max_runtime * 1000)
    this.deadline.unref()
    return this.port
  }

  async stop () {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.ticker)
    clearTimeout(this.deadline)
    for (const session of this.connections) session.logout('venue shutting down')
    await new Promise(resolve => setTimeout(resolve, this.sessions.size ? 200 : 0))
    for (const session of [...this.connections]) session.drop()
    for (const socket of this.sockets) socket.destroy() // ended sessions linger 5 s otherwise
    if (this.server) await new Promise(resolve => this.server.close(() => resolve()))
    if (this.stores) await this.stores.settle()
    if (this.dictionary && this.dictionary.dir) fs.rmSync(this.dictionary.dir, { recursive: true, force: true })
  }

  accept (socket) {
    // Handled first: a socket may fail at any moment (reset, broken pipe), also after its
    // session stopped, while jspurefix lingers before destroying it.
    let session = null
    socket.on('error', (e) => this.socketFault('socket', e, session))
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    if (this.stopped) {
      socket.destroy()
      return
    }
    const accepted = this.guard('accept', () => {
      socket.setNoDelay(true)
      const id = ++this.nextTransport
      const scoped = makeSessionScope(this.config)
      const transport = new MsgTransport(id, scoped, new TcpDuplex(socket))
      // jspurefix's parser re-emits the socket's errors and its encoder its own; once a
      // session stops it unsubscribes, and an 'error' with no listener ends the process.
      transport.receiver.on('error', (e) => this.socketFault('receiver', e))
      transport.transmitter.on('error', (e) => this.socketFault('transmitter', e))
      session = new VenueSession(scoped, this, id)
      session.on('error', () => {}) // a stop's reason, told to run()'s promise as well
      this.connections.add(session)
      socket.on('close', () => this.connections.delete(session))
      session.run(transport).catch(() => {}).finally(() => this.connections.delete(session))
      return true
    })
    if (!accepted) socket.destroy()
  }

  /** A connection's socket, parser or encoder failed: counted, logged, never fatal. */
  socketFault (where, e, session = null) {
    if (where !== 'socket' && e && e.syscall) return // the socket's own error, seen already
    const code = (e && e.code) || 'error'
    this.count(`${where}_errors`)
    this.count(`${where}_error_${code}`)
    // jspurefix no longer listens to the socket of a stopped session: without the
    // handlers above, these are the errors that ended the process
    if (session && session.stopped) this.count(`${where}_errors_after_session_stop`)
    const n = this.counters[`${where}_errors`]
    if (n <= 20 || n % 1000 === 0) {
      process.stderr.write(`[jsvenue warn] ${where} error #${n}: ${code} ${e && e.message ? e.message : e}\n`)
    }
  }

  guard (what, fn) {
    try {
      return fn()
    } catch (e) {
      this.error(`${what}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`)
      return undefined
    }
  }

  // ---------------------------------------------------------------------- sessions
  checkLogon (session, view, user, password) {
    const o = this.options
    const peer = view.getString(49)
    if (!o.clients.includes(peer)) {
      this.count('logons_refused')
      return `unknown SenderCompID ${peer}`
    }
    if (Date.now() < this.refuseUntil) {
      this.count('logons_refused')
      return 'logons refused (venue maintenance)'
    }
    if (this.badCredentials || ((o.username !== null || o.password !== null) &&
        (user !== o.username || password !== o.password))) {
      this.count('logons_refused')
      this.count('bad_credentials')
      return 'bad username or password'
    }
    return null
  }

  sessionUp (session) {
    const old = this.sessions.get(session.compId)
    if (old && old !== session) old.kill('replaced by a new logon')
    this.sessions.set(session.compId, session)
    if (session.peerReset || this.options.reset_on_logon) this.sent.delete(session.compId)
    this.logons++
  }

  sessionDown (session, wasLoggedOn, error) {
    if (this.sessions.get(session.compId) === session) this.sessions.delete(session.compId)
    for (const subs of this.subs.values()) subs.delete(session)
    if (wasLoggedOn) this.count('sessions_ended')
  }

  rememberSent (compId, seq, msgType, obj, time) {
    if (!this.sent.has(compId)) this.sent.set(compId, new Map())
    this.sent.get(compId).set(seq, { msgType, obj, time })
  }

  sentLog (compId) { return this.sent.get(compId) || new Map() }

  // ---------------------------------------------------------------------- application
  onApplication (session, msgType, view) {
    this.count(`in_${msgType}`)
    this.guard(`message ${msgType}`, () => {
      switch (msgType) {
        case 'D': return this.onNewOrder(session, view)
        case 'F': return this.onCancel(session, view)
        case 'G': return this.onReplace(session, view)
        case 'H': return this.onStatus(session, view)
        case 'AF': return this.onMassStatus(session, view)
        case 'V': return this.onMarketDataRequest(session, view)
        default:
          return this.send(session, 'j', enc.businessReject(this.version, {
            refSeqNum: view.getString(34), refMsgType: msgType, reason: '3', text: `unsupported message type ${msgType}`
          }))
      }
    })
  }

  send (session, msgType, obj, done) {
    if (!session || !session.loggedOn) {
      this.count('undelivered')
      return false
    }
    session.sendApp(msgType, obj, (err, seq) => {
      if (err) this.error(`send ${msgType}: ${err.message}`)
      if (done) done(err, seq)
    })
    return true
  }

  onNewOrder (session, view) {
    const g = (tag) => view.getString(tag)
    const clOrdId = g(11)
    if (this.ordersToLose > 0) { // never reached the book: no report, no record
      this.ordersToLose--
      this.count('orders_lost')
      return
    }
    const symbol = g(55)
    if (symbol === BUSINESS_REJECT_SYMBOL || symbol === SESSION_REJECT_SYMBOL) {
      this.engine.received.set(clOrdId, (this.engine.received.get(clOrdId) || 0) + 1)
      if (symbol === BUSINESS_REJECT_SYMBOL) {
        return this.send(session, 'j', enc.businessReject(this.version, {
          refSeqNum: g(34), refMsgType: 'D', refId: clOrdId, reason: '2', text: 'instrument not tradable here'
        }))
      }
      return this.send(session, '3', enc.sessionReject(this.version, {
        refSeqNum: g(34), refTagId: 55, refMsgType: 'D', reason: 5, text: 'symbol not accepted on this session'
      }))
    }
    this.emit(this.engine.newOrder({
      owner: session.compId, clOrdId, symbol, side: g(54), qty: num(g(38)), ordType: g(40), pt: ticks(g(44)), stopPt: ticks(g(99)), tif: g(59) || '0', account: g(1)
    }))
  }

  onCancel (session, view) {
    this.emit(this.engine.cancel({ owner: session.compId, orig: view.getString(41), clOrdId: view.getString(11), orderId: view.getString(37) }))
  }

  onReplace (session, view) {
    this.emit(this.engine.replace({
      owner: session.compId, orig: view.getString(41), clOrdId: view.getString(11), orderId: view.getString(37), qty: num(view.getString(38)), pt: ticks(view.getString(44))
    }))
  }

  onStatus (session, view) {
    const clOrdId = view.getString(11)
    const order = this.engine.find(clOrdId, view.getString(37))
    if (!order || order.owner !== session.compId) {
      return this.send(session, '8', enc.executionReport(this.version, {
        orderId: 'NONE', clOrdId, execId: this.engine.nextExecId(), execType: 'I', ordStatus: '8', ordRejReason: '5', symbol: view.getString(55), side: view.getString(54), leaves: 0, cum: 0, avgPx: 0
      }))
    }
    if (this.options.status_repeats_fills) {
      for (const fill of order.fills) this.send(session, '8', this.fillReport(order, fill, true))
    }
    this.send(session, '8', this.report(order, 'I', order.status, { clOrdId: clOrdId === order.clOrdId ? null : order.clOrdId }))
  }

  onMassStatus (session, view) {
    const reqId = view.getString(584)
    if (!this.options.mass_status || this.version === 'FIX42') {
      return this.send(session, 'j', enc.businessReject(this.version, {
        refSeqNum: view.getString(34), refMsgType: 'AF', refId: reqId, reason: '3', text: 'OrderMassStatusRequest not supported'
      }))
    }
    const open = this.engine.openOrders(session.compId)
    if (!open.length) {
      return this.send(session, '8', enc.executionReport(this.version, {
        orderId: 'NONE', clOrdId: 'NONE', execId: this.engine.nextExecId(), execType: 'I', ordStatus: '8', ordRejReason: '5', symbol: 'NONE', side: '1', leaves: 0, cum: 0, avgPx: 0, massStatusReqId: reqId, totNumReports: 0, lastRpt: true, text: 'no open orders'
      }))
    }
    open.forEach((order, i) => this.send(session, '8', this.report(order, 'I', order.status, {
      massStatusReqId: reqId, totNumReports: open.length, lastRpt: i === open.length - 1
    })))
  }

  // ---------------------------------------------------------------------- execution reports
  report (order, execType, ordStatus, extra = {}) {
    const state = extra.state || { clOrdId: order.clOrdId, qty: order.qty, pt: order.pt, leaves: order.leavesQty, cum: order.cum, avgPx: order.avgPx }
    return enc.executionReport(this.version, {
      orderId: order.orderId, clOrdId: extra.clOrdId || state.clOrdId, origClOrdId: extra.orig, execId: this.engine.nextExecId(), execType, ordStatus, symbol: order.symbol, side: order.side, qty: state.qty, ordType: order.ordType, pt: state.pt, stopPt: order.stopPt, tif: order.tif, leaves: state.leaves, cum: state.cum, avgPx: state.avgPx, text: extra.text, massStatusReqId: extra.massStatusReqId, totNumReports: extra.totNumReports, lastRpt: extra.lastRpt
    })
  }

  fillReport (order, fill, possResend = false) {
    const obj = enc.executionReport(this.version, {
      orderId: order.orderId, clOrdId: fill.cl_ord_id, execId: fill.exec_id, execType: 'F', ordStatus: fill.status, symbol: order.symbol, side: order.side, qty: order.qty, ordType: order.ordType, pt: order.pt, tif: order.tif, lastQty: fill.quantity, lastPt: Math.round(fill.price * 100), leaves: fill.status === '2' ? 0 : Math.max(order.qty - fill.cum_qty, 0), cum: fill.cum_qty, avgPx: fill.avg_px
    })
    if (possResend) obj.StandardHeader = { PossResend: true }
    return obj
  }

  /** Turn engine events into messages to each order's owner, then publish the books. */
  emit (events) {
    for (const event of events) {
      const order = event.order
      const owner = order ? order.owner : event.owner
      const session = this.sessions.get(owner)
      let msgType = '8'
      let obj
      switch (event.kind) {
        case 'new': obj = this.report(order, '0', '0', { state: event.state }); break
        case 'fill': obj = this.fillReport(order, event.fill); break
        case 'canceled': obj = this.report(order, '4', '4', { orig: event.orig, text: event.text, state: event.state }); break
        case 'replaced': obj = this.report(order, '5', this.version === 'FIX42' ? '5' : event.state.status, { orig: event.orig, state: event.state }); break
        case 'reject':
          obj = enc.executionReport(this.version, {
            orderId: 'NONE', clOrdId: event.clOrdId, execId: this.engine.nextExecId(), execType: '8', ordStatus: '8', ordRejReason: event.reason, symbol: event.symbol, side: event.side, qty: event.qty > 0 ? event.qty : undefined, leaves: 0, cum: 0, avgPx: 0, text: event.text
          })
          break
        case 'cancel_reject':
          msgType = '9'
          obj = enc.orderCancelReject(this.version, {
            orderId: event.order ? event.order.orderId : 'NONE', clOrdId: event.clOrdId, origClOrdId: event.orig, ordStatus: event.order ? event.order.status : '8', responseTo: event.responseTo, reason: event.order ? '0' : '1', text: event.text
          })
          break
        default: continue
      }
      if (owner !== null) this.send(session, msgType, obj)
    }
    this.publish()
  }

  // ---------------------------------------------------------------------- market data
  tick () {
    if (!this.options.market_data) return
    this.emit(this.engine.step())
  }

  onMarketDataRequest (session, view) {
    const reqId = view.getString(262)
    const kind = view.getString(263)
    const symbols = (view.getStrings(55) || []).filter(Boolean)
    if (kind === '2') {
      for (const subs of this.subs.values()) {
        for (const [s, id] of subs) if (s === session && id === reqId) subs.delete(s)
      }
      return
    }
    this.publish() // every subscriber is up to date before a new snapshot goes out
    for (const symbol of symbols) {
      const publisher = this.publishers.get(symbol)
      if (!publisher) {
        this.send(session, 'Y', enc.mdReject(this.version, reqId, '0', `unknown symbol ${symbol}`))
        continue
      }
      this.sendSnapshot(session, reqId, symbol, publisher)
      if (kind === '1') {
        if (!this.subs.has(symbol)) this.subs.set(symbol, new Map())
        this.subs.get(symbol).set(session, reqId)
      }
    }
  }

  sendSnapshot (session, reqId, symbol, publisher) {
    const obj = enc.mdSnapshot(this.version, reqId, symbol, publisher.snapshot(), publisher.rptSeq)
    this.sendMd(session, 'W', obj, symbol, reqId, publisher, null)
  }

  /** Send one market-data message and record the subscriber's book as it must be after it. */
  sendMd (session, msgType, obj, symbol, reqId, publisher, injected) {
    const view = publisher.view
    const record = {
      comp_id: session.compId, msg_seq_num: null, msg_type: msgType, symbol, md_req_id: reqId, rpt_seq: publisher.rptSeq, model: publisher.model, bids: view.bids.map(([pt, size]) => [pt / 100, size]), asks: view.asks.map(([pt, size]) => [pt / 100, size]), injected
    }
    if (publisher.model === 'entry_id') {
      record.entries = [...view.entries].map(([id, e]) => [id, e.side === '1' ? 'bid' : 'ask', e.pt / 100, e.size])
    }
    const last = this.engine.books.get(symbol).last
    record.last = last ? [last.pt / 100, last.qty] : null
    if (this.history.length >= HISTORY_LIMIT) this.history.shift()
    this.history.push(record)
    this.send(session, msgType, obj, (err, seq) => { record.msg_seq_num = err ? null : seq })
  }

  /** Publish every book that changed: X (or W for snapshot_only) to each subscriber. */
  publish () {
    for (const [symbol, trades] of this.engine.takeChanges()) {
      const publisher = this.publishers.get(symbol)
      const entries = publisher.update(trades)
      if (entries === null) continue
      const subs = this.subs.get(symbol)
      if (publisher.model === 'snapshot_only') {
        if (subs) for (const [session, reqId] of subs) this.sendSnapshot(session, reqId, symbol, publisher)
        continue
      }
      const rptSeqs = this.nextRptSeqs(symbol, publisher, entries.length)
      if (!subs || !subs.size) continue
      for (const [session, reqId] of subs) {
        const obj = enc.mdIncremental(this.version, reqId, symbol, entries, rptSeqs)
        this.sendMd(session, 'X', obj, symbol, reqId, publisher, null)
      }
    }
  }

  nextRptSeqs (symbol, publisher, n) {
    if (this.pendingGap.delete(symbol)) {
      publisher.rptSeq += 1 // one number never sent: a feed gap
      this.count('rpt_seq_gaps_injected')
    }
    const out = []
    for (let i = 0; i < n; i++) out.push(++publisher.rptSeq)
    return out
  }

  // ---------------------------------------------------------------------- faults
  dropConnections (refuseFor = 0) {
    if (refuseFor > 0) this.refuseLogons(refuseFor)
    let n = 0
    for (const session of [...this.connections]) if (session.drop()) n++
    return n
  }

  /** The next `n` NewOrderSingles are ignored, as if lost in a link that stalled. */
  loseOrders (n) {
    this.ordersToLose = n
    return true
  }

  refuseLogons (seconds) {
    this.refuseUntil = seconds > 0 ? Date.now() + seconds * 1000 : 0
    return true
  }

  setBadCredentials (on) {
    this.badCredentials = !!on
    return true
  }

  skipSequenceNumber () {
    let n = 0
    for (const session of this.sessions.values()) if (session.skipSequenceNumber()) n++
    return n
  }

  sendMalformed () { return faults.sendMalformed(this) }

  injectMarketData (symbol, kind) { return faults.injectMarketData(this, symbol, kind) }

  // ---------------------------------------------------------------------- by hand
  fill (clOrdId, quantity = null, price = null) {
    const order = this.engine.orders.get(clOrdId)
    if (!order) throw new Error(`unknown order ${clOrdId}`)
    const events = this.engine.manualFill(order, quantity ?? order.leavesQty, price === null ? null : Math.round(price * 100))
    this.emit(events)
    const fill = events.find(e => e.kind === 'fill')
    return fill ? fill.fill : null
  }

  /** An order on `owner`'s account that its client never sent (phone desk, another session). */
  externalOrder ({ owner, cl_ord_id: clOrdId, symbol, side = '1', quantity, price = null, ord_type: ordType = null, tif = '1' }) {
    const target = owner || this.options.clients[0]
    const pt = price === null ? null : Math.round(price * 100)
    const events = this.engine.newOrder({ owner: target, clOrdId, symbol, side, qty: quantity, ordType: ordType || (pt === null ? '1' : '2'), pt, stopPt: null, tif, external: true })
    this.emit(events)
    const order = this.engine.orders.get(clOrdId)
    return order ? orderView(order) : null
  }

  // ---------------------------------------------------------------------- records
  bookLevels (symbol) {
    const book = this.engine.books.get(symbol)
    if (!book) throw new Error(`unknown symbol ${symbol}`)
    const view = this.publishers.get(symbol).view
    return {
      bids: view.bids.map(([pt, size]) => [pt / 100, size]),
      asks: view.asks.map(([pt, size]) => [pt / 100, size]),
      full_bids: book.levels('1').map(([pt, size]) => [pt / 100, size]),
      full_asks: book.levels('2').map(([pt, size]) => [pt / 100, size])
    }
  }

  status () {
    return {
      port: this.port,
      version: this.version,
      sessions_logged_on: this.sessions.size,
      connections: this.connections.size,
      logons: this.logons,
      counters: this.counters,
      errors: this.errors.slice(-50),
      models: Object.fromEntries([...this.publishers].map(([s, p]) => [s, p.model])),
      next_seq_nums: Object.fromEntries([...this.sessions].map(([c, s]) => [c, s.nextSeqNum]))
    }
  }
}

function orderView (order) {
  return {
    order_id: order.orderId, cl_ord_id: order.clOrdId, first_cl_ord_id: order.firstClOrdId, owner: order.owner, symbol: order.symbol, side: order.side, ord_type: order.ordType, price: order.pt === null ? null : order.pt / 100, stop_px: order.stopPt === null ? null : order.stopPt / 100, qty: order.qty, cum_qty: order.cum, avg_px: order.avgPx, leaves: order.leavesQty, status: order.status, tif: order.tif, external: !!order.external, fills: order.fills
  }
}

function num (text) {
  if (text === null || text === undefined || text === '') return null
  const v = Number(text)
  return Number.isFinite(v) ? v : NaN
}

/** A price in ticks of 0.01; NaN (refused as a bad price) when it is off the tick. */
function ticks (text) {
  const v = num(text)
  if (v === null || Number.isNaN(v)) return v
  const t = Math.round(v * 100)
  return Math.abs(t - v * 100) > 1e-6 ? NaN : t
}

module.exports = { Venue, orderView, DEFAULTS, BUSINESS_REJECT_SYMBOL, SESSION_REJECT_SYMBOL }

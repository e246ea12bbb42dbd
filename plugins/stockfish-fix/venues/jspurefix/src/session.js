'use strict'
// One client connection: jspurefix's AsciiSession runs the session layer (Logon, heartbeats,
// TestRequest, sequence numbers, ResendRequest from the peer, SequenceReset); the venue
// decides who may log on and handles the application messages.
//
// What is changed from the stock session, and why:
//   - a Logon whose MsgSeqNum is below the expected one is answered with a Logout saying
//     "MsgSeqNum too low, expecting N but received M" (jspurefix drops the link without a
//     word; `low_seq_logon: drop` keeps that behaviour);
//   - a ResendRequest is answered from the venue's own record of the application messages
//     it sent (resent with PossDupFlag=Y and OrigSendingTime), every other number gap-filled;
//     the stock session reads a store the engine never fills, so it gap-fills everything;
//   - a resent message must not rewind the stored next sender number (the stock
//     txOnEncoded stores MsgSeqNum + 1 of whatever it encodes).

const { AsciiSession } = require('jspurefix')

const RESET_SEQ_NUM_FLAG = 141
const MSG_SEQ_NUM = 34

class VenueSession extends AsciiSession {
  constructor (config, venue, transportId) {
    super(config)
    this.venue = venue
    this.transportId = transportId
    this.loggedOn = false
    this.peerReset = false
    this.stopped = false // jspurefix has stopped the session (its transport may linger)
  }

  get compId () { return this.config.description.TargetCompID }
  get nextSeqNum () { return this.transport ? this.transport.transmitter.msgSeqNum : null }

  // dispatchMsg is where the stock session checks sequence numbers, after a wildcard
  // acceptor has bound the peer's identity (and so loaded its store): the expected number
  // is known only there.
  dispatchMsg (msgType, view) {
    if (msgType === 'A' && !this.loggedOn) {
      this.peerReset = view.getTyped(RESET_SEQ_NUM_FLAG) === true
      const seq = Number(view.getString(MSG_SEQ_NUM))
      const expected = this.sessionState.lastPeerMsgSeqNum + 1
      if (!this.peerReset && seq < expected && this.venue.options.low_seq_logon !== 'drop') {
        this.venue.count('logons_refused_low_seq')
        this.sendLogout(`MsgSeqNum too low, expecting ${expected} but received ${seq}`)
        this.stop()
        return
      }
    }
    super.dispatchMsg(msgType, view)
  }

  onLogon (view, user, password) {
    const reason = this.venue.checkLogon(this, view, user, password)
    if (reason === null) return true
    // a rejected promise is refused with a Logout carrying its message
    return Promise.reject(new Error(reason))
  }

  onReady () {
    this.loggedOn = true
    this.venue.sessionUp(this)
  }

  onStopped (error) {
    this.stopped = true
    const was = this.loggedOn
    this.loggedOn = false
    this.venue.sessionDown(this, was, error)
  }

  onApplicationMsg (msgType, view) {
    this.venue.onApplication(this, msgType, view)
  }

  onDecoded () {}
  onEncoded () {}

  txOnEncoded (msgType, data, hdr) {
    super.txOnEncoded(msgType, data, hdr)
    if (hdr && hdr.PossDupFlag && this.transport) {
      this.sessionStore.setSenderSeqNum(this.transport.transmitter.msgSeqNum).catch(() => {})
    }
  }

  onResendRequest (view) {
    const begin = Number(view.getString(7))
    const requested = Number(view.getString(16))
    const last = this.nextSeqNum - 1
    const end = requested === 0 || requested > last ? last : requested
    const sent = this.venue.sentLog(this.compId)
    this.venue.count('resend_requests')
    let gapStart = null
    const gapFill = (start, next) => {
      this.send('4', { GapFillFlag: true, NewSeqNo: next, StandardHeader: { MsgSeqNum: start, PossDupFlag: true, SendingTime: new Date() } })
      this.venue.count('gap_fills_sent')
    }
    for (let seq = begin; seq <= end; seq++) {
      const record = sent.get(seq)
      if (record) {
        if (gapStart !== null) gapFill(gapStart, seq)
        gapStart = null
        this.send(record.msgType, { ...record.obj, StandardHeader: { MsgSeqNum: seq, PossDupFlag: true, SendingTime: record.time } })
        this.venue.count('messages_resent')
      } else if (gapStart === null) {
        gapStart = seq
      }
    }
    if (gapStart !== null) gapFill(gapStart, end + 1)
  }

  /** Send an application message; `done(err, seq)` once encoded (or refused). */
  sendApp (msgType, obj, done) {
    this.send(msgType, obj, (err, result) => {
      const seq = err ? null : result.header.MsgSeqNum
      if (!err) this.venue.rememberSent(this.compId, seq, msgType, obj, result.header.SendingTime)
      if (done) done(err, seq)
    })
  }

  /** Skip one outgoing MsgSeqNum: the client sees a gap and asks for a resend. */
  skipSequenceNumber () {
    if (!this.transport) return false
    const transmitter = this.transport.transmitter
    transmitter.msgSeqNum += 1
    this.sessionStore.setSenderSeqNum(transmitter.msgSeqNum).catch(() => {})
    return true
  }

  /** Cut the connection now (no Logout). */
  drop () {
    const transport = this.transport
    if (!transport) return false
    transport.duplex.destroy()
    return true
  }

  logout (text) {
    if (this.loggedOn) this.sendLogout(text)
  }

  kill (reason) { this.requestStop(reason) }
}

module.exports = { VenueSession }

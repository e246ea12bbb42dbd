'use strict'
// Book models: how the venue's book of one symbol is told to subscribers.
//
//   top_of_book    best bid and offer only; a new quote on a side is MDUpdateAction=1
//                  (Change) at the new price, no MDEntryID: it replaces that side's quote.
//   price_level    one entry per price: New / Change / Delete keyed by price.
//   entry_id       one entry per resting order (order by order): MDEntryID (278) keys it,
//                  Change with MDEntryRefID (280) renames it, Delete carries no price;
//                  several entries may share a price.
//   position       the top `depth` price levels keyed by MDPriceLevel (1023): New inserts at
//                  a level and shifts the ones below down (the one pushed past `depth`
//                  falls off), Delete removes one and shifts the ones below up, 3 Delete
//                  Thru removes levels 1..n, 4 Delete From removes n..bottom, 5 Overlay
//                  replaces the price and size at a level (CME MDP 3.0 / FIX 5.0 SP2).
//   snapshot_only  W only: a full refresh whenever the book changes, no X.
//
// Entries: { action, type ('0' bid, '1' offer, '2' trade), pt, size, id, ref, level,
// noPrice }. A view (what a subscriber's book must be) is { bids, asks } of [pt, size]
// best first, plus `entries` (Map id -> {side, pt, size}) for entry_id.

const { BUY, SELL } = require('./book')

const MODELS = ['top_of_book', 'price_level', 'entry_id', 'position', 'snapshot_only']
const TYPE = { [BUY]: '0', [SELL]: '1' }

function levelsOf (entries) {
  const sides = { [BUY]: new Map(), [SELL]: new Map() }
  for (const { side, pt, size } of entries.values()) {
    sides[side].set(pt, (sides[side].get(pt) || 0) + size)
  }
  return {
    bids: [...sides[BUY]].sort((a, b) => b[0] - a[0]),
    asks: [...sides[SELL]].sort((a, b) => a[0] - b[0])
  }
}

class Publisher {
  constructor (model, book, depth) {
    if (!MODELS.includes(model)) throw new Error(`unknown book model ${model}`)
    this.model = model
    this.book = book
    this.depth = depth
    this.view = this.current()
    this.rptSeq = 0
  }

  /** What the venue's book looks like in this model now. */
  current () {
    const book = this.book
    switch (this.model) {
      case 'top_of_book':
        return { bids: book.levels(BUY, 1), asks: book.levels(SELL, 1) }
      case 'entry_id': {
        const entries = book.entries()
        return { ...levelsOf(entries), entries }
      }
      case 'position':
        return { bids: book.levels(BUY, this.depth), asks: book.levels(SELL, this.depth) }
      default:
        return { bids: book.levels(BUY, this.depth), asks: book.levels(SELL, this.depth) }
    }
  }

  /** The snapshot (W) entries of the last published view, with the last trade. */
  snapshot () {
    const view = this.view
    const out = []
    if (this.model === 'entry_id') {
      for (const [id, e] of view.entries) out.push({ action: '0', type: TYPE[e.side], pt: e.pt, size: e.size, id })
    } else {
      for (const [side, levels] of [[BUY, view.bids], [SELL, view.asks]]) {
        levels.forEach(([pt, size], i) => out.push({
          action: '0', type: TYPE[side], pt, size, level: this.model === 'position' ? i + 1 : undefined
        }))
      }
    }
    const last = this.book.last
    if (last) out.push({ action: '0', type: '2', pt: last.pt, size: last.qty })
    return out
  }

  /**
   * Bring the published view up to the book; returns the incremental entries (with the
   * trades) or null when nothing changed. snapshot_only answers with [] (a new W is due).
   */
  update (trades) {
    const next = this.current()
    const entries = []
    switch (this.model) {
      case 'top_of_book': entries.push(...this.topDiff(next)); break
      case 'price_level': entries.push(...this.levelDiff(next)); break
      case 'entry_id': entries.push(...this.entryDiff(next)); break
      case 'position':
        entries.push(...positionDiff(this.view.bids, next.bids, '0', this.depth))
        entries.push(...positionDiff(this.view.asks, next.asks, '1', this.depth))
        break
      case 'snapshot_only': break
    }
    const moved = !sameView(this.view, next)
    this.view = next
    if (this.model === 'snapshot_only') return moved || trades.length ? [] : null
    for (const t of trades) entries.push({ action: '0', type: '2', pt: t.pt, size: t.qty })
    return entries.length ? entries : null
  }

  topDiff (next) {
    const out = []
    for (const [type, before, after] of [['0', this.view.bids[0], next.bids[0]], ['1', this.view.asks[0], next.asks[0]]]) {
      if (before && after && before[0] === after[0] && before[1] === after[1]) continue
      if (!after && before) out.push({ action: '2', type, pt: before[0], size: null })
      else if (after) out.push({ action: before ? '1' : '0', type, pt: after[0], size: after[1] })
    }
    return out
  }

  levelDiff (next) {
    const deletes = []
    const others = []
    for (const [type, before, after] of [['0', this.view.bids, next.bids], ['1', this.view.asks, next.asks]]) {
      const old = new Map(before)
      const now = new Map(after)
      for (const [pt] of before) if (!now.has(pt)) deletes.push({ action: '2', type, pt, size: null })
      for (const [pt, size] of after) {
        if (!old.has(pt)) others.push({ action: '0', type, pt, size })
        else if (old.get(pt) !== size) others.push({ action: '1', type, pt, size })
      }
    }
    return deletes.concat(others)
  }

  entryDiff (next) {
    const before = this.view.entries
    const after = next.entries
    const renamedFrom = new Map()
    for (const side of [BUY, SELL]) {
      for (const order of this.book.side(side)) {
        if (order.renamedFrom && before.has(order.renamedFrom) && after.has(order.entryId)) {
          renamedFrom.set(order.entryId, order.renamedFrom)
        }
        order.renamedFrom = undefined
      }
    }
    const renamedOld = new Set(renamedFrom.values())
    const out = []
    for (const [id, e] of before) {
      if (!after.has(id) && !renamedOld.has(id)) out.push({ action: '2', type: TYPE[e.side], id, noPrice: true })
    }
    for (const [id, e] of after) {
      const ref = renamedFrom.get(id)
      const was = before.get(ref ?? id)
      if (ref && was && was.pt === e.pt && was.side === e.side) {
        out.push({ action: '1', type: TYPE[e.side], pt: e.pt, size: e.size, id, ref })
      } else if (ref && was) { // renamed and moved: the old entry goes, the new one comes
        out.push({ action: '2', type: TYPE[was.side], id: ref, noPrice: true })
        out.push({ action: '0', type: TYPE[e.side], pt: e.pt, size: e.size, id })
      } else if (!was) {
        out.push({ action: '0', type: TYPE[e.side], pt: e.pt, size: e.size, id })
      } else if (was.size !== e.size || was.pt !== e.pt) {
        out.push({ action: '1', type: TYPE[e.side], pt: e.pt, size: e.size, id })
      }
    }
    return out
  }
}

function sameView (a, b) {
  return JSON.stringify([a.bids, a.asks]) === JSON.stringify([b.bids, b.asks])
}

/**
 * The position-keyed operations that turn `before` into `after` (both best first, at most
 * `depth` long), applying each to a working copy exactly as a subscriber must.
 */
function positionDiff (before, after, type, depth) {
  const work = before.map(l => l.slice())
  const out = []
  const newPrices = new Set(after.map(l => l[0]))
  const op = (action, i, level) => out.push({ action, type, level: i + 1, pt: level ? level[0] : undefined, size: level ? level[1] : null, noPrice: !level })
  // Several levels gone from the top: one Delete Thru.
  let k = 0
  while (k < work.length && !newPrices.has(work[k][0]) && (!after.length || better(type, work[k][0], after[0][0]))) k++
  if (k >= 2) {
    op('3', k - 1, null)
    work.splice(0, k)
  }
  let i = 0
  while (i < Math.max(work.length, after.length)) {
    const w = work[i]
    const n = after[i]
    if (n === undefined) {
      if (work.length - i >= 2) op('4', i, null)
      else op('2', i, null)
      work.length = i
      break
    }
    if (w === undefined) {
      op('0', i, n)
      work.push(n.slice())
    } else if (w[0] === n[0]) {
      if (w[1] !== n[1]) op('1', i, n)
      work[i] = n.slice()
    } else if (!newPrices.has(w[0]) && !work.some(x => x[0] === n[0])) {
      op('5', i, n)
      work[i] = n.slice()
    } else if (!newPrices.has(w[0])) {
      op('2', i, null)
      work.splice(i, 1)
      continue
    } else {
      op('0', i, n)
      work.splice(i, 0, n.slice())
      if (work.length > depth) work.length = depth
    }
    i++
  }
  if (JSON.stringify(work) !== JSON.stringify(after)) {
    throw new Error(`position diff does not reproduce the book: ${JSON.stringify(work)} != ${JSON.stringify(after)}`)
  }
  return out
}

function better (type, a, b) { return type === '0' ? a > b : a < b }

/** Apply position entries to [bids, asks] (the reference a subscriber follows; tests use it). */
function applyPosition (sides, entries, depth) {
  for (const e of entries) {
    if (e.type !== '0' && e.type !== '1') continue
    const side = sides[e.type === '0' ? 0 : 1]
    const i = e.level - 1
    switch (e.action) {
      case '0': side.splice(i, 0, [e.pt, e.size]); if (side.length > depth) side.length = depth; break
      case '1': case '5': side[i] = [e.pt, e.size]; break
      case '2': side.splice(i, 1); break
      case '3': side.splice(0, i + 1); break
      case '4': side.length = i; break
    }
  }
  return sides
}

module.exports = { MODELS, Publisher, positionDiff, applyPosition }

'use strict'
// Where each session keeps its sequence numbers: in memory (kept per SessionId for the
// venue's lifetime, so a reconnecting client finds them, as a QuickFIX acceptor's session
// would) or in files (jspurefix's QuickFIX-compatible file store, surviving a restart).

const fs = require('fs')
const { MemorySessionStore, FileSessionStoreFactory } = require('jspurefix')

const WRITES = ['put', 'setSenderSeqNum', 'setTargetSeqNum', 'nextSenderSeqNum', 'nextTargetSeqNum', 'reset']

class VenueStores {
  /** A jspurefix session store factory (`create(sessionId)`). */
  constructor (kind, directory, onError) {
    this.kind = kind
    this.onError = onError
    this.memory = new Map() // SessionId -> MemorySessionStore
    this.files = [] // { store, pending writes }
    if (kind === 'file') {
      if (!directory) throw new Error('store_path: required with store "file"')
      fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
      this.fileFactory = new FileSessionStoreFactory(directory)
    } else if (kind !== 'memory') {
      throw new Error(`store: expected memory or file, got ${kind}`)
    }
  }

  create (sessionId) {
    if (this.kind === 'file') return this.tracked(this.fileFactory.create(sessionId))
    const key = sessionId.toString()
    if (!this.memory.has(key)) this.memory.set(key, new MemorySessionStore(sessionId))
    return this.memory.get(key)
  }

  /**
   * A file store whose writes are followed: jspurefix fires them without waiting, and two
   * writes of the sequence-number file can land in either order. settle() waits for them
   * all, then writes the final numbers once more.
   */
  tracked (store) {
    const pending = new Set()
    for (const name of WRITES) {
      const call = store[name].bind(store)
      store[name] = (...args) => {
        const done = call(...args)
        pending.add(done)
        done.catch(() => {}).finally(() => pending.delete(done))
        return done
      }
    }
    this.files.push({ store, pending })
    return store
  }

  async settle () {
    const report = (e) => this.onError(`store: ${e.message}`)
    for (const { store, pending } of this.files) {
      while (pending.size) await Promise.allSettled([...pending])
      await store.setSenderSeqNum(store.senderSeqNum).catch(report)
      while (pending.size) await Promise.allSettled([...pending])
      await store.flush().catch(report)
    }
  }
}

module.exports = { VenueStores }

'use strict'
// A small seeded generator (mulberry32): a venue started with the same seed moves its books
// the same way, so a failing run can be replayed.

function makeRng (seed) {
  let a = (seed >>> 0) || 0x9e3779b9
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]
  }
}

module.exports = { makeRng }

'use strict'
// The venue's dictionaries: jspurefix's QuickFIX-format files with this venue's extensions,
// the way a real venue publishes a dictionary with its own tags:
//   - RptSeq (83) and MDPriceLevel (1023) on every market-data entry (W and X) in FIX 4.2
//     and 4.4, where the standard has neither (FIX 5.0 SP2 has both);
//   - MDUpdateAction 3 (Delete Thru), 4 (Delete From), 5 (Overlay) in 4.2 and 4.4;
//   - Username (553) / Password (554) on the FIX 4.2 Logon (4.2 has no such fields).
// extensions.json lists them; the Python driver applies the same list to QuickFIX's
// dictionaries for clients (stockfish_fix.testing.js_venue.extend_dictionaries).

const fs = require('fs')
const os = require('os')
const path = require('path')

const EXTENSIONS = require('../extensions.json')
const SOURCE = path.join(path.dirname(require.resolve('jspurefix/package.json')), 'data')

function fieldDef (field) {
  const values = (field.values || []).map(([value, name]) =>
    `<value enum="${value}" description="${name}"/>`).join('')
  return values
    ? `<field number="${field.number}" name="${field.name}" type="${field.type}">${values}</field>`
    : `<field number="${field.number}" name="${field.name}" type="${field.type}"/>`
}

/** Whether a field `name` is referenced in this XML text (either quote style). */
function named (text, name) {
  return new RegExp(`name=['"]${name}['"]`).test(text)
}

/** The text between `open` (a regex matching an element's start tag) and its close. */
function block (xml, openRe, closeTag) {
  const match = openRe.exec(xml)
  if (!match) throw new Error(`dictionary: no ${openRe}`)
  const end = xml.indexOf(closeTag, match.index)
  return [match.index, end]
}

function addGroupMembers (xml, container, members) {
  // container: {message: 'W'} or {component: 'MDIncGrp'}; the NoMDEntries group inside it
  const openRe = container.message
    ? new RegExp(`<message [^>]*msgtype=['"]${container.message}['"][^>]*>`)
    : new RegExp(`<component name=['"]${container.component}['"][^/>]*>`)
  const [start, end] = block(xml, openRe, container.message ? '</message>' : '</component>')
  const inner = xml.slice(start, end)
  const groupAt = inner.search(/<group name=['"]NoMDEntries['"]/)
  if (groupAt < 0) throw new Error(`dictionary: no NoMDEntries in ${JSON.stringify(container)}`)
  const groupEnd = inner.indexOf('</group>', groupAt)
  const missing = members.filter(name => !named(inner.slice(groupAt, groupEnd), name))
  const added = missing.map(name => `<field name="${name}" required="N"/>`).join('')
  return xml.slice(0, start) + inner.slice(0, groupEnd) + added + inner.slice(groupEnd) + xml.slice(end)
}

function addMessageFields (xml, msgType, names) {
  const [start, end] = block(xml, new RegExp(`<message [^>]*msgtype=['"]${msgType}['"][^>]*>`), '</message>')
  const inner = xml.slice(start, end)
  const missing = names.filter(name => !named(inner, name))
  const added = missing.map(name => `<field name="${name}" required="N"/>`).join('')
  return xml.slice(0, end) + added + xml.slice(end)
}

function extendFields (xml, fields) {
  for (const field of fields) {
    const existing = new RegExp(`<field number=['"]${field.number}['"][^>]*?(/>|>[\\s\\S]*?</field>)`)
    const found = existing.exec(xml)
    if (!found) {
      const at = xml.indexOf('<fields>') + '<fields>'.length
      xml = xml.slice(0, at) + fieldDef(field) + xml.slice(at)
    } else if (field.values) {
      const known = new Set([...found[0].matchAll(/enum=['"]([^'"]*)['"]/g)].map(m => m[1]))
      const extra = field.values.filter(([value]) => !known.has(value))
        .map(([value, name]) => `<value enum="${value}" description="${name}"/>`).join('')
      if (extra) {
        const close = found.index + found[0].lastIndexOf('</field>')
        xml = xml.slice(0, close) + extra + xml.slice(close)
      }
    }
  }
  return xml
}

// The messages this venue sends or answers: the others are left out of its dictionary (the
// FIX 5.0 SP2 file takes seconds to load whole), so a message of another type is refused
// with a session Reject (invalid MsgType), as a venue that does not support it would.
const USED = new Set(['0', '1', '2', '3', '4', '5', 'A', '8', '9', 'D', 'F', 'G', 'H', 'AF', 'V', 'W', 'X', 'Y', 'j'])

function trimMessages (xml) {
  return xml.replace(/<message [^>]*msgtype=['"]([^'"]+)['"][\s\S]*?<\/message>/g,
    (whole, msgType) => USED.has(msgType) ? whole : '')
}

/** Drop the components no kept message reaches (directly or through other components). */
function trimComponents (xml) {
  const open = /<components>/.exec(xml)
  const close = xml.indexOf('</components>')
  if (!open || close < 0) return xml
  const section = xml.slice(open.index + open[0].length, close)
  const bodies = new Map()
  for (const m of section.matchAll(/<component name=['"]([^'"]+)['"][^>]*?(?:\/>|>[\s\S]*?<\/component>)/g)) {
    bodies.set(m[1], m[0])
  }
  const refs = (text) => [...text.matchAll(/<component name=['"]([^'"]+)['"]/g)].map(m => m[1])
  const outside = xml.slice(0, open.index) + xml.slice(close)
  const keep = new Set()
  const todo = refs(outside)
  while (todo.length) {
    const name = todo.pop()
    if (keep.has(name) || !bodies.has(name)) continue
    keep.add(name)
    // the component's own start tag names itself: skip it
    todo.push(...refs(bodies.get(name)).filter(n => n !== name))
  }
  const kept = [...bodies].filter(([name]) => keep.has(name)).map(([, body]) => body).join('\n')
  return xml.slice(0, open.index + open[0].length) + kept + xml.slice(close)
}

/** Drop the field definitions nothing kept refers to. */
function trimFields (xml) {
  const open = /<fields>/.exec(xml)
  const close = xml.indexOf('</fields>')
  if (!open || close < 0) return xml
  const outside = xml.slice(0, open.index) + xml.slice(close)
  const used = new Set([...outside.matchAll(/<(?:field|group) name=['"]([^'"]+)['"]/g)].map(m => m[1]))
  const section = xml.slice(open.index + open[0].length, close)
  const kept = [...section.matchAll(/<field [^>]*?name=['"]([^'"]+)['"][^>]*?(?:\/>|>[\s\S]*?<\/field>)/g)]
    .filter(m => used.has(m[1])).map(m => m[0]).join('\n')
  return xml.slice(0, open.index + open[0].length) + kept + xml.slice(close)
}

/** Write the extended dictionary of `version` into a private temporary directory. */
function buildDictionary (version) {
  const spec = EXTENSIONS[version]
  let xml = trimComponents(trimMessages(fs.readFileSync(path.join(SOURCE, `${version}.xml`), 'latin1')))
  xml = extendFields(xml, spec.fields)
  for (const entry of spec.group_members) xml = addGroupMembers(xml, entry.in, entry.fields)
  for (const entry of spec.message_fields) xml = addMessageFields(xml, entry.msgtype, entry.fields)
  xml = trimFields(xml)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jsvenue-dict-'))
  const file = path.join(dir, `${version}.xml`)
  fs.writeFileSync(file, xml, { encoding: 'latin1', mode: 0o600 })
  return { dir, file }
}

module.exports = { buildDictionary }

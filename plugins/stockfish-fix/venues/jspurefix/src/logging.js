'use strict'
// jspurefix logs every session step at info level through winston on stdout; stdout is this
// venue's control channel, so the engine's log goes to stderr, warnings and errors only
// (never message bodies: a Logon carries the password).

const { JsFixLoggerFactory } = require('jspurefix')

class StderrLogger {
  constructor (name, verbose) {
    this.name = name
    this.verbose = verbose
  }

  info (message) { if (this.verbose) this.write('info', message) }
  debug () {}
  warning (message) { this.write('warn', message) }
  error (e) { this.write('error', e && e.message ? e.message : String(e)) }
  write (level, message) { process.stderr.write(`[jsvenue ${level}] ${this.name}: ${message}\n`) }
}

class QuietPlainLogger {
  info () {}
  debug () {}
  warning () {}
  error () {}
}

class StderrLogFactory extends JsFixLoggerFactory {
  constructor (verbose = false) {
    super()
    this.verbose = verbose
  }

  logger (type) { return new StderrLogger(type, this.verbose) }
  plain () { return new QuietPlainLogger() }
}

module.exports = { StderrLogFactory }

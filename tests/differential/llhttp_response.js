// Reads "<id> <methods> <hex>" lines on stdin; decodes each input as one
// connection's bytes (then its end) with llhttp in response mode (Node's
// HTTP parser, strict: no lenient flags), the responses answering requests
// whose methods <methods> gives ("G" GET, "H" HEAD; past its end GET), and
// prints one transcript line per input in the harness's format
// (tests/http_response_differential.rs): "<id> <end> <reason> <n> <response>*".
// Every byte string is hex, "-" when empty.
'use strict';
const { HTTPParser } = require('_http_common');
const readline = require('readline');

const hex = (b) => (b.length ? Buffer.from(b).toString('hex') : '-');
const latin1 = (s) => Buffer.from(s, 'latin1');

function transcript(input, methods) {
  const parser = new HTTPParser();
  // (type, resource, maxHeaderSize, lenient flags: none)
  parser.initialize(HTTPParser.RESPONSE, {}, 64 * 1024, 0);
  const responses = [];
  let cur = null;
  let stop = null;
  let headers = [];
  // An interim response read and its final response not yet begun.
  let interim = false;
  const isHead = () => methods[responses.length] === 'H';
  parser[HTTPParser.kOnHeaders] = (h) => { headers = headers.concat(h); };
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, h, _method, _url, status, _msg, upgrade, keepAlive) => {
    if (h) headers = headers.concat(h);
    const pairs = [];
    for (let i = 0; i < headers.length; i += 2) pairs.push([latin1(headers[i]), latin1(headers[i + 1])]);
    headers = [];
    cur = { status, major, minor, keepAlive, upgrade, headers: pairs, body: [] };
    // 1: no body (what Node's client answers for a HEAD request).
    return isHead() ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (b) => { cur.body.push(Buffer.from(b)); };
  parser[HTTPParser.kOnMessageComplete] = () => {
    headers = [];
    if (cur === null) return;
    // Interim responses (1xx but 101) are skipped, as a client does.
    if (cur.status >= 100 && cur.status < 200 && cur.status !== 101) { cur = null; interim = true; return; }
    interim = false;
    responses.push(cur);
    if (cur.upgrade || cur.status === 101) stop = 'upgrade';
    else if (!cur.keepAlive) stop = 'closed';
    cur = null;
  };
  let end = 'clean';
  let reason = '';
  let r = parser.execute(Buffer.from(input));
  if (!(r instanceof Error) && !stop) {
    // The connection ends: a body read until close is complete now.
    r = parser.finish();
    if (r instanceof Error) {
      end = 'partial';
      reason = '';
      r = null;
    }
  }
  if (r instanceof Error) {
    end = 'refused';
    reason = r.code || String(r);
  }
  // Nothing after a response that closes the connection is read.
  if (stop && (end !== 'refused' || reason === 'HPE_CLOSED_CONNECTION')) {
    end = stop;
    reason = '';
  }
  if (end === 'clean' && (cur !== null || interim)) end = 'partial';
  parser.close();
  const out = [end, hex(latin1(reason)), String(responses.length)];
  for (const q of responses) {
    out.push(String(q.status), `${q.major}.${q.minor}`, q.keepAlive ? '1' : '0', String(q.headers.length));
    for (const [n, v] of q.headers) out.push(hex(n), hex(v));
    out.push(hex(Buffer.concat(q.body)));
  }
  return out.join(' ');
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const lines = [];
rl.on('line', (line) => {
  const [id, methods, data] = line.split(' ');
  lines.push(`${id} ${transcript(data === '-' ? Buffer.alloc(0) : Buffer.from(data, 'hex'), methods)}`);
  if (lines.length >= 256) { process.stdout.write(lines.join('\n') + '\n'); lines.length = 0; }
});
rl.on('close', () => { if (lines.length) process.stdout.write(lines.join('\n') + '\n'); });

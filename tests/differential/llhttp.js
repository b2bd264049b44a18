// Reads "<id> <hex>" lines on stdin; decodes each input as one connection's
// bytes with llhttp (Node's HTTP parser, strict: no lenient flags) and
// prints one transcript line per input in the harness's format
// (tests/http_differential.rs): "<id> <end> <reason> <n> <request>*".
// Every byte string is hex, "-" when empty.
'use strict';
const { HTTPParser, methods } = require('_http_common');
const readline = require('readline');

const hex = (b) => (b.length ? Buffer.from(b).toString('hex') : '-');
const latin1 = (s) => Buffer.from(s, 'latin1');

function transcript(input) {
  const parser = new HTTPParser();
  // (type, resource, maxHeaderSize, lenient flags: none)
  parser.initialize(HTTPParser.REQUEST, {}, 64 * 1024, 0);
  const requests = [];
  let cur = null;
  let stop = null;
  let headers = [];
  let partUrl = '';
  // A long head arrives in pieces: headers and the URL so far come here.
  parser[HTTPParser.kOnHeaders] = (h, u) => { headers = headers.concat(h); partUrl += u || ''; };
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, h, method, url, _s, _m, upgrade, keepAlive) => {
    if (h) headers = headers.concat(h);
    const pairs = [];
    for (let i = 0; i < headers.length; i += 2) pairs.push([latin1(headers[i]), latin1(headers[i + 1])]);
    headers = [];
    const target = url === undefined ? partUrl : url;
    partUrl = '';
    cur = { method: latin1(methods[method]), target: latin1(target), major, minor, keepAlive, upgrade, headers: pairs, body: [] };
    return 0;
  };
  parser[HTTPParser.kOnBody] = (b) => { cur.body.push(Buffer.from(b)); };
  parser[HTTPParser.kOnMessageComplete] = () => {
    // Trailer fields come through kOnHeaders too: dropped, as squall does.
    headers = [];
    partUrl = '';
    requests.push(cur);
    if (cur.upgrade) stop = 'upgrade';
    else if (!cur.keepAlive) stop = 'closed';
    cur = null;
  };
  let end = 'clean';
  let reason = '';
  const r = parser.execute(Buffer.from(input));
  if (r instanceof Error) {
    end = 'refused';
    reason = r.code || String(r);
  }
  // Everything after a message that closes the connection is not read.
  if (stop && (end !== 'refused' || reason === 'HPE_CLOSED_CONNECTION')) {
    end = stop;
    reason = '';
  }
  if (end === 'clean') {
    // finish() says whether a message was cut short by the end of input.
    const f = parser.finish();
    if (f instanceof Error) { end = 'partial'; }
    else if (cur !== null) { end = 'partial'; }
  }
  parser.close();
  const out = [end, hex(latin1(reason)), String(requests.length)];
  for (const q of requests) {
    out.push(hex(q.method), hex(q.target), `${q.major}.${q.minor}`, q.keepAlive ? '1' : '0', String(q.headers.length));
    for (const [n, v] of q.headers) out.push(hex(n), hex(v));
    out.push(hex(Buffer.concat(q.body)));
  }
  return out.join(' ');
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const lines = [];
rl.on('line', (line) => {
  const [id, data] = line.split(' ');
  lines.push(`${id} ${transcript(data === '-' ? Buffer.alloc(0) : Buffer.from(data, 'hex'))}`);
  if (lines.length >= 256) { process.stdout.write(lines.join('\n') + '\n'); lines.length = 0; }
});
rl.on('close', () => { if (lines.length) process.stdout.write(lines.join('\n') + '\n'); });

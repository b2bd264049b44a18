#!/usr/bin/env python3
# Run from the repository root: python3 fuzz/gen_ws_message_corpus.py fuzz/corpus/ws_message
# Seeds for fuzz/corpus/ws_message: client frames (masked), compressed with
# CPython's zlib (raw deflate, sync flush, tail stripped as RFC 7692 says).
import os, struct, zlib, hashlib, sys
out = sys.argv[1]
KEY = b"\x37\xfa\x21\x3d"
def frame(b0, payload, mask=KEY):
    n = len(payload)
    if n < 126: h = bytes([b0, 0x80 | n])
    elif n < 65536: h = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else: h = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
def deflate(data, c=None):
    c = c or zlib.compressobj(6, zlib.DEFLATED, -15)
    b = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert b.endswith(b"\x00\x00\xff\xff")
    return b[:-4]
def ctl(limit_idx, deflate_on, takeover, step):
    return bytes([limit_idx | (4 if deflate_on else 0) | (8 if takeover else 0) | (step << 4)])
seeds = {}
hello = deflate(b"Hello")
seeds["rfc7692_hello"] = ctl(2, 1, 0, 3) + frame(0xc1, hello)
seeds["plain_text"] = ctl(2, 0, 0, 0) + frame(0x81, "caf\u00e9 \u2713".encode())
seeds["fragments_ping"] = ctl(2, 1, 0, 5) + frame(0x41, hello[:3]) + frame(0x89, b"hi") + frame(0x80, hello[3:])
json = b'{"user":"alice","room":"lobby","text":"hello hello hello"}'
c = zlib.compressobj(6, zlib.DEFLATED, -15)
seeds["takeover_two"] = ctl(2, 1, 1, 2) + frame(0xc1, deflate(json, c)) + frame(0xc1, deflate(json, c))
seeds["bomb"] = ctl(1, 1, 0, 15) + frame(0xc2, deflate(b"a" * 100000))
seeds["bad_utf8_inflated"] = ctl(2, 1, 0, 1) + frame(0xc1, deflate(b"ok \xff"))
seeds["rsv1_continuation"] = ctl(2, 1, 0, 0) + frame(0x01, b"a") + frame(0xc0, b"b")
seeds["close"] = ctl(0, 0, 0, 0) + frame(0x88, struct.pack(">H", 1000) + b"bye")
seeds["binary_uncompressed_on_deflate"] = ctl(3, 1, 0, 7) + frame(0x82, bytes(range(200)))
seeds["empty_blocks"] = ctl(1, 1, 0, 4) + frame(0xc2, b"\x00\x00\x00\xff\xff" * 70)
seeds["len16_header_over_limit"] = ctl(1, 0, 0, 0) + frame(0x02, b"x" * 200) + frame(0x80, b"y" * 150)[:8]
seeds["stored_block"] = ctl(0, 1, 0, 0) + frame(0xc1, bytes([0x00, 0x05, 0x00, 0xfa, 0xff]) + b"Hello" + b"\x00")
big = b"".join(b'{"seq":%d,"text":"lorem ipsum dolor sit amet"}' % i for i in range(60))
d = deflate(big)
seeds["many_fragments"] = ctl(3, 1, 0, 9) + b"".join(frame(0x41 if i == 0 else (0x80 if i + 50 >= len(d) else 0x00), d[i:i + 50]) for i in range(0, len(d), 50))
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
print(len(seeds), sum(len(v) for v in seeds.values()))

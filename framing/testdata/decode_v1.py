#!/usr/bin/env python3
"""An independent decoder of backseal frames v1, written from docs/FRAMING.md
with its own XXH64, to cross-check the Go package. Usage: decode_v1.py FILE...
Prints one line per file: name, status code, records, payload bytes, message."""
import struct
import sys

M = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def rnd(acc, lane):
    return (rotl((acc + lane * P2) & M, 31) * P1) & M


def xxh64(b):
    n, i = len(b), 0
    if n >= 32:
        v = [(P1 + P2) & M, P2, 0, (-P1) & M]
        while i + 32 <= n:
            v = [rnd(v[k], struct.unpack_from('<Q', b, i + 8 * k)[0]) for k in range(4)]
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for x in v:
            h = ((h ^ rnd(0, x)) * P1 + P4) & M
    else:
        h = P5
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from('<Q', b, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from('<I', b, i)[0] * P1) & M, 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ (b[i] * P5) & M, 11) * P1) & M
        i += 1
    h = ((h ^ (h >> 33)) * P2) & M
    h = ((h ^ (h >> 29)) * P3) & M
    return h ^ (h >> 32)


def decode(s):
    if s[:8] != b'\x89BSL\r\n\x1a\n':
        raise ValueError('bad magic')
    off, prev, seq, data, sid = 8, bytes(8), 0, b'', None
    while True:
        fh = s[off:off + 16]
        if len(fh) < 16:
            raise ValueError('truncated')
        kind, flags, reserved, length, fseq = struct.unpack('>BBHIQ', fh)
        if flags or reserved or length > 1 << 20 or fseq != seq:
            raise ValueError('bad frame header at seq %d' % seq)
        payload, check = s[off + 16:off + 16 + length], s[off + 16 + length:off + 24 + length]
        if len(check) < 8:
            raise ValueError('truncated')
        off += 24 + length
        if seq == 0:
            if kind != 1 or payload[0] != 1:
                raise ValueError('bad header frame')
            sid, body = payload[1:17], payload
        elif kind == 2 and length > 0:
            data += payload
            body = struct.pack('>Q', xxh64(data))
        elif kind == 3:
            body = payload
        else:
            raise ValueError('bad kind at seq %d' % seq)
        if xxh64(sid + prev + fh + body) != struct.unpack('>Q', check)[0]:
            raise ValueError('checksum mismatch at seq %d' % seq)
        prev = check
        if kind == 3:
            code, _, n, m, _, records, nbytes, frames, digest = struct.unpack('>BBHHHQQQQ', payload[:40])
            if len(payload) < 40 + n or (nbytes, frames, digest) != (len(data), seq - 1, xxh64(data)):
                raise ValueError('bad end frame')
            meta, i = [], 40 + n
            for _ in range(m):
                kl = payload[i]
                vl, = struct.unpack_from('>H', payload, i + 1 + kl)
                meta.append((payload[i + 1:i + 1 + kl].decode('ascii'),
                             payload[i + 3 + kl:i + 3 + kl + vl].decode('utf-8')))
                i += 3 + kl + vl
            if i != len(payload):
                raise ValueError('bad end frame metadata')
            if off != len(s):
                raise ValueError('data after end frame')
            return code, records, data, payload[40:40 + n].decode('utf-8'), meta
        seq += 1


if __name__ == '__main__':
    for name in sys.argv[1:]:
        with open(name, 'rb') as f:
            code, records, data, msg, meta = decode(f.read())
        print('%s code=%d records=%d bytes=%d message=%r meta=%r' % (name, code, records, len(data), msg, meta))

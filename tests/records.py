#!/usr/bin/env python3
"""records.py - list or damage the records of a sop segment file (tests).

  records.py list SEG              one line per record: offset type length owner
  records.py flip SEG OFFSET       flip the bits of the byte at OFFSET
  records.py last SEG TYPES [N]    offset of the payload of the N-th last record
                                   (default 1) whose type is in TYPES (1 image,
                                   2 delta, 3 chunk, 4 commit; comma-separated)
  records.py batch SEG N           offset of the payload of the first node record
                                   (a first copy: index 0) of the batch of the
                                   N-th last commit

Record header (engine/blob.h): magic "SOPR" (0x52504F53 little-endian),
type, 3 reserved, u32 payload length, u32 crc, 16-byte owner, u64 index.
"""
import struct
import sys

MAGIC = 0x52504F53
HDR = 40


def records(path):
    data = open(path, 'rb').read()
    off = 0
    while off + HDR <= len(data):
        magic, rtype, plen = struct.unpack_from('<IB3xI', data, off)
        if magic != MAGIC or off + HDR + plen > len(data):
            break
        owner = data[off + 16:off + 32].hex()
        idx = struct.unpack_from('<Q', data, off + 32)[0]
        yield off, rtype, plen, owner, idx
        off += HDR + plen


def main():
    cmd, seg = sys.argv[1], sys.argv[2]
    if cmd == 'list':
        for off, rtype, plen, owner, idx in records(seg):
            print(off, rtype, plen, owner, idx)
    elif cmd == 'flip':
        off = int(sys.argv[3])
        with open(seg, 'r+b') as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0xFF]))
    elif cmd == 'last':
        types = {int(t) for t in sys.argv[3].split(',')}
        n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        hits = [off for off, rtype, _, _, _ in records(seg) if rtype in types]
        if len(hits) < n:
            sys.exit('no such record')
        print(hits[-n] + HDR + 8)
    elif cmd == 'batch':
        n = int(sys.argv[3])
        recs = list(records(seg))
        commits = [i for i, r in enumerate(recs) if r[1] == 4]
        if len(commits) < n:
            sys.exit('no such commit')
        end = commits[-n]
        begin = commits[-n - 1] + 1 if len(commits) > n else 0
        for off, rtype, _, _, idx in recs[begin:end]:
            if rtype in (1, 2) and idx == 0:
                print(off + HDR + 8)
                return
        sys.exit('no node record in that batch')
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Reference partial MD5 (KOReader util.partialMD5 / BookLore FileFingerprint), independent of the
plugin's Lua code. Prints "path hash" per file; used to cross-check the Lua routine."""
import hashlib
import os
import sys


def partial_md5(path: str) -> str:
    md5 = hashlib.md5()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        for i in range(-1, 11):
            offset = 0 if i < 0 else 1024 << (2 * i)
            if offset >= size:
                break
            f.seek(offset)
            md5.update(f.read(1024))
    return md5.hexdigest()


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, partial_md5(p))

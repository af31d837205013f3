"""Fingerprints that stop the same report from counting twice.

Three layers, from cheapest to the one that decides:

1. `file_fingerprint(stream)`: sha256 of the bytes. Compute it before reading and look it up
   among the partner's submissions: the very same file uploaded again is answered at once
   ("you already sent this file on …") without validating anything.
2. `Summary.data_fingerprint` (pipeline): an order-independent digest (a sum of per-line
   digests, i.e. a multiset hash) of every line that is valid apart from being a duplicate.
   The same data re-saved in another encoding, delimiter, format (CSV vs XLSX) or line order
   has the same value: store it with the submission and tell the partner "this is the data of
   submission N" rather than listing thousands of duplicate lines.
3. The line keys (`LineResult.key`, see validation): the guarantee. Store the key of every
   accepted line under a unique constraint per partner; a line that is already there is
   rejected as `duplicate_accepted`, whatever file it comes in. Fingerprints 1 and 2 only make
   the answer friendlier; 3 is what makes double counting impossible (also for a file that
   overlaps an earlier one only in part, or a corrected re-upload of rejected lines).
"""

from __future__ import annotations

import hashlib
from typing import IO

CHUNK = 1024 * 1024


def file_fingerprint(stream: IO[bytes]) -> str:
    """sha256 of the stream's bytes from its current position, read in 1 MiB chunks; a seekable
    stream is put back where it was, ready to be read again."""
    start = stream.tell() if stream.seekable() else None
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    if start is not None:
        stream.seek(start)
    return digest.hexdigest()

"""Clouds' user-data limits, and sizes described the way a user needs to act on them."""

from __future__ import annotations

import gzip

EC2_USER_DATA = 16_384  # raw bytes, before base64 (the API base64-encodes it)
GCE_METADATA_VALUE = 262_144  # one metadata value
GCE_METADATA_TOTAL = 512 * 1024  # all metadata of an instance
OPENSTACK_USER_DATA = 65_535


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no timestamp), so rendered output is stable for reviews and goldens."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def base64_size(size: int) -> int:
    return 4 * ((size + 2) // 3)


def describe_sizes(data: bytes) -> str:
    packed = len(gzip_bytes(data))
    return f"{len(data):,} bytes raw, {packed:,} gzipped, {base64_size(packed):,} gzipped+base64"

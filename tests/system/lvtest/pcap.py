"""Classic libpcap file reader and writer, struct module only.

Reads both byte orders and microsecond/nanosecond magics. Writes
little-endian microsecond files. A record may be written with a caplen
shorter than its original length (to emulate a small snap length).
"""
import struct

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = "IIII"


class PcapError(Exception):
    pass


class Record:
    __slots__ = ("ts_sec", "ts_frac", "data", "orig_len")

    def __init__(self, ts_sec, ts_frac, data, orig_len):
        self.ts_sec = ts_sec
        self.ts_frac = ts_frac
        self.data = data
        self.orig_len = orig_len

    @property
    def truncated(self):
        return len(self.data) < self.orig_len


def write(path, frames, linktype=LINKTYPE_ETHERNET, snaplen=65535):
    """Write frames to path.

    Each item of frames is bytes, or (bytes, caplen) to cut that record to
    caplen bytes while keeping its original length (caplen < len).
    """
    with open(path, "wb") as f:
        f.write(_GLOBAL.pack(MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        rec = struct.Struct("<" + _RECORD)
        for i, item in enumerate(frames):
            if isinstance(item, tuple):
                data, caplen = item
            else:
                data, caplen = item, len(item)
            caplen = min(caplen, len(data), snaplen)
            # Timestamps only need to be increasing: one microsecond apart.
            f.write(rec.pack(1700000000 + i // 1000000, i % 1000000, caplen,
                             len(data)))
            f.write(data[:caplen])


def read(path):
    """Return (linktype, [Record]) for the pcap file at path."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 24:
        raise PcapError(f"{path}: shorter than a pcap header")
    for endian in "<>":
        magic = struct.unpack(endian + "I", buf[:4])[0]
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        raise PcapError(f"{path}: bad magic {buf[:4].hex()}")
    _, _, _, _, _, linktype = struct.unpack(endian + "HHiIII", buf[4:24])
    rec = struct.Struct(endian + _RECORD)
    out = []
    off = 24
    while off < len(buf):
        if off + 16 > len(buf):
            raise PcapError(f"{path}: cut inside a record header at {off}")
        ts_sec, ts_frac, caplen, orig = rec.unpack_from(buf, off)
        off += 16
        if off + caplen > len(buf):
            raise PcapError(f"{path}: cut inside a record at {off}")
        out.append(Record(ts_sec, ts_frac, buf[off:off + caplen], orig))
        off += caplen
    return linktype & 0xFFFF, out

"""DNS queries as plain data, and their wire form.

A Query says what is asked (name with its case as sent, type, class, header
bits, EDNS) and carries free-form tags that the differences list can match.
wire() builds the message itself (no dnspython) so that the exact bytes are
known: no compression, labels as given, OPT last.
"""
import struct

import dns.rdataclass
import dns.rdatatype

OPCODE_QUERY, OPCODE_NOTIFY, OPCODE_UPDATE = 0, 4, 5


def name_wire(name):
    """Text name (absolute or not, no escapes) to uncompressed wire form."""
    name = name.rstrip(".")
    out = b""
    if name:
        for label in name.split("."):
            b = label.encode("ascii")
            out += bytes([len(b)]) + b
    return out + b"\0"


class Edns:
    __slots__ = ("payload", "do", "version", "options")

    def __init__(self, payload=1232, do=False, version=0, options=b""):
        self.payload = payload
        self.do = do
        self.version = version
        self.options = options

    def key(self):
        return (self.payload, self.do, self.version, self.options)

    def __repr__(self):
        return f"Edns({self.payload}, do={self.do}, v={self.version})"


class Query:
    __slots__ = ("qname", "qtype", "qclass", "id", "rd", "cd", "ad", "opcode",
                 "edns", "tags")

    def __init__(self, qname, qtype="A", qclass="IN", id=0, rd=True, cd=False,
                 ad=False, opcode=OPCODE_QUERY, edns=None, tags=()):
        self.qname = qname
        self.qtype = dns.rdatatype.from_text(qtype) if isinstance(qtype, str) else qtype
        self.qclass = (dns.rdataclass.from_text(qclass)
                       if isinstance(qclass, str) else qclass)
        self.id = id
        self.rd = rd
        self.cd = cd
        self.ad = ad
        self.opcode = opcode
        self.edns = edns
        self.tags = frozenset(tags)

    @property
    def lname(self):
        return self.qname.rstrip(".").lower() + "."

    @property
    def do(self):
        return bool(self.edns and self.edns.do)

    def cache_key(self):
        """levee's cache key: lowercased name, type, class, DO."""
        return (self.lname, self.qtype, self.qclass, self.do)

    def norm_key(self):
        """Everything but ID and name case: equal keys get equal answers."""
        return (self.lname, self.qtype, self.qclass, self.rd, self.cd, self.ad,
                self.opcode, self.edns.key() if self.edns else None)

    def flags(self):
        f = self.opcode << 11
        if self.rd:
            f |= 0x0100
        if self.ad:
            f |= 0x0020
        if self.cd:
            f |= 0x0010
        return f

    def question_wire(self):
        return name_wire(self.qname) + struct.pack("!HH", self.qtype, self.qclass)

    def opt_wire(self):
        e = self.edns
        ttl = (e.version << 16) | (0x8000 if e.do else 0)
        return (b"\0" + struct.pack("!HHIH", 41, e.payload, ttl, len(e.options))
                + e.options)

    def wire(self, id=None):
        id = self.id if id is None else id
        ar = 1 if self.edns else 0
        msg = struct.pack("!HHHHHH", id, self.flags(), 1, 0, 0, ar)
        msg += self.question_wire()
        if self.edns:
            msg += self.opt_wire()
        return msg

    def describe(self):
        e = f" {self.edns}" if self.edns else " noedns"
        return (f"{self.qname} {dns.rdatatype.to_text(self.qtype)}"
                f"{'' if self.qclass == 1 else ' ' + dns.rdataclass.to_text(self.qclass)}"
                f"{e}{' CD' if self.cd else ''}{'' if self.rd else ' norec'}"
                f"{' opcode=%d' % self.opcode if self.opcode else ''}")

    def __repr__(self):
        return f"<Query {self.describe()}>"


class RawQuery:
    """A query given as wire bytes (malformed ones included), with what the
    differences list may match on. wire(id) patches the ID in."""

    def __init__(self, raw, tags=(), qtype=0, opcode=None, edns=None, qname="?"):
        self.raw = bytes(raw)
        self.tags = frozenset(tags)
        self.qtype = qtype
        self.opcode = (self.raw[2] >> 3) & 15 if opcode is None else opcode
        self.edns = edns
        self.qname = qname
        self.id = struct.unpack("!H", self.raw[:2])[0]

    def wire(self, id=None):
        if id is None:
            return self.raw
        return struct.pack("!H", id) + self.raw[2:]

    def describe(self):
        return f"raw[{','.join(sorted(self.tags))}] {self.raw[:40].hex()}"

    def norm_key(self):
        return ("raw", self.raw[2:])

    def __repr__(self):
        return f"<RawQuery {self.describe()}>"


def header(id=0, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id, flags, qd, an, ns, ar)


def malformed_queries():
    """[(tag, RawQuery, expected levee outcome)]: outcome is an rcode name
    ("FORMERR", "NOTIMP", "BADVERS") or "drop_<reason>"."""
    qsec = name_wire("www.levee.test.") + struct.pack("!HH", 1, 1)
    opt_v1 = b"\0" + struct.pack("!HHIH", 41, 1232, 1 << 16, 0)
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    a_rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 99])
    # TSIG (RFC 8945 §4.2) with a key no server here knows
    tsig_rd = (name_wire("hmac-sha256.") + struct.pack("!HIH", 0, 1700000000, 300)
               + struct.pack("!H", 32) + b"\x55" * 32 + struct.pack("!HHH", 0, 0, 0))
    tsig = (name_wire("no-such-key.") + struct.pack("!HHIH", 250, 255, 0, len(tsig_rd))
            + tsig_rd)
    cases = [
        ("qr-set", header(flags=0x8100) + qsec, "drop_qr_set"),
        ("runt", header()[:7], "drop_runt_dns"),
        ("qdcount-0", header(qd=0), "FORMERR"),
        ("qdcount-2", header(qd=2) + qsec + qsec, "FORMERR"),
        ("qname-compressed", header() + b"\x03www\xc0\x0c" + struct.pack("!HH", 1, 1),
         "FORMERR"),
        ("label-64", header() + b"\x40" + b"a" * 64 + name_wire("levee.test.")
         + struct.pack("!HH", 1, 1), "FORMERR"),
        ("name-256", header() + (b"\x3f" + b"b" * 63) * 4 + name_wire("levee.test.")
         + struct.pack("!HH", 1, 1), "FORMERR"),
        ("opcode-notify", header(flags=4 << 11) + name_wire("levee.test.")
         + struct.pack("!HH", 6, 1), "NOTIMP"),
        ("opcode-update", header(flags=5 << 11) + name_wire("levee.test.")
         + struct.pack("!HH", 6, 1), "NOTIMP"),
        ("edns-version-1", header(ar=1) + qsec + opt_v1, "BADVERS"),
        # records beyond one OPT: the fast path hands these to the control
        # plane (counted as punts), which reads them with ldns
        ("punt-answer-record", header(an=1) + qsec + a_rr, "NOERROR"),
        ("punt-tsig-unknown-key", header(ar=1) + qsec + tsig, "NOTAUTH"),
        ("punt-two-opts", header(ar=2) + qsec + opt + opt, "FORMERR"),
        ("punt-opt-and-a-record", header(ar=2) + qsec + opt + a_rr, "NOERROR"),
    ]
    out = []
    for tag, raw, outcome in cases:
        out.append((tag, RawQuery(raw, tags=(tag,),
                                  edns=(Edns(1232, version=1) if "edns" in tag
                                        else Edns(1232) if "opt" in tag else None)),
                    outcome))
    return out

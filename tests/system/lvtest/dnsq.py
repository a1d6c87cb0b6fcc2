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

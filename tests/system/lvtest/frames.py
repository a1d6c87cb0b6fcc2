"""Ethernet II + IPv4/IPv6 + UDP frames: build and parse, with checksums.

Addresses are given as text ("192.0.2.1", "2001:db8::1",
"02:00:00:00:00:01"); the family follows from the IP address.
"""
import ipaddress
import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
PROTO_ICMP = 1
PROTO_UDP = 17
PROTO_ICMPV6 = 58

CLIENT_MAC = "02:00:00:00:00:01"
SERVER_MAC = "02:00:00:00:00:02"
CLIENT4, SERVER4 = "192.0.2.1", "192.0.2.53"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::53"


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_text(b):
    return ":".join(f"{x:02x}" for x in b)


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data):
    return ~ones_sum(data) & 0xFFFF


def _pseudo(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def udp_segment(src, dst, sport, dport, payload, bad_checksum=False):
    """UDP header + payload with the checksum over the pseudo header."""
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = checksum(_pseudo(src, dst, PROTO_UDP, length) + hdr + payload)
    if c == 0:
        c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    if bad_checksum:
        c ^= 0x5555
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def ipv4_header(src, dst, proto, payload_len, ident=1, ttl=64,
                options=b"", flags_frag=0x4000):
    """flags_frag: DF by default; pass 0x2000 (MF) or an offset to fragment."""
    ihl = 5 + len(options) // 4
    assert len(options) % 4 == 0
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len,
                      ident, flags_frag, ttl, proto, 0, src, dst) + options
    c = checksum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:]


def ipv6_header(src, dst, next_header, payload_len, hop_limit=64):
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, next_header,
                       hop_limit, src, dst)


def ethernet(dst_mac, src_mac, ethertype, payload):
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def udp_frame(payload, src=CLIENT4, dst=None, sport=40000, dport=53,
              src_mac=CLIENT_MAC, dst_mac=SERVER_MAC, ip_options=b"",
              flags_frag=0x4000, ipv6_ext=None, bad_checksum=False):
    """An Ethernet frame carrying one UDP datagram."""
    s = ipaddress.ip_address(src)
    if dst is None:
        dst = SERVER4 if s.version == 4 else SERVER6
    d = ipaddress.ip_address(dst)
    seg = udp_segment(s.packed, d.packed, sport, dport, payload, bad_checksum)
    if s.version == 4:
        ip = ipv4_header(s.packed, d.packed, PROTO_UDP, len(seg),
                         options=ip_options, flags_frag=flags_frag)
        return ethernet(dst_mac, src_mac, ETH_IPV4, ip + seg)
    if ipv6_ext is not None:
        # One hop-by-hop options header (8 bytes, PadN) before UDP.
        ext = struct.pack("!BB", PROTO_UDP, 0) + b"\x01\x04\0\0\0\0"
        ip = ipv6_header(s.packed, d.packed, 0, len(ext) + len(seg))
        return ethernet(dst_mac, src_mac, ETH_IPV6, ip + ext + seg)
    ip = ipv6_header(s.packed, d.packed, PROTO_UDP, len(seg))
    return ethernet(dst_mac, src_mac, ETH_IPV6, ip + seg)


def icmp_echo_frame(src=CLIENT4, dst=SERVER4):
    body = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"levee-test"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    ip = ipv4_header(s, d, PROTO_ICMP, len(body))
    return ethernet(SERVER_MAC, CLIENT_MAC, ETH_IPV4, ip + body)


def arp_request_frame(sender=CLIENT4, target=SERVER4):
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_IPV4, 6, 4, 1,
                       mac_bytes(CLIENT_MAC), ipaddress.ip_address(sender).packed,
                       b"\0" * 6, ipaddress.ip_address(target).packed)
    return ethernet("ff:ff:ff:ff:ff:ff", CLIENT_MAC, ETH_ARP, body)


class ParseError(Exception):
    pass


class UdpFrame:
    """A parsed Ethernet/IP/UDP frame. Raises ParseError on anything else."""

    def __init__(self, raw):
        if len(raw) < 14:
            raise ParseError("runt ethernet")
        self.dst_mac = mac_text(raw[0:6])
        self.src_mac = mac_text(raw[6:12])
        (etype,) = struct.unpack("!H", raw[12:14])
        p = raw[14:]
        if etype == ETH_IPV4:
            if len(p) < 20:
                raise ParseError("runt ipv4")
            vihl, _, tot, _, ff, ttl, proto, _ = struct.unpack("!BBHHHBBH", p[:12])
            ihl = (vihl & 15) * 4
            if vihl >> 4 != 4 or ihl < 20 or tot > len(p) or tot < ihl + 8:
                raise ParseError(f"bad ipv4 header vihl={vihl:#x} tot={tot} have={len(p)}")
            self.ip_header_ok = checksum(p[:ihl]) == 0
            self.version = 4
            self.src_ip = str(ipaddress.IPv4Address(p[12:16]))
            self.dst_ip = str(ipaddress.IPv4Address(p[16:20]))
            self.frag = ff & 0x3FFF
            src_b, dst_b = p[12:16], p[16:20]
            l4 = p[ihl:tot]
        elif etype == ETH_IPV6:
            if len(p) < 40:
                raise ParseError("runt ipv6")
            _, plen, proto, _ = struct.unpack("!IHBB", p[:8])
            if 40 + plen > len(p):
                raise ParseError("ipv6 payload length beyond frame")
            self.ip_header_ok = True
            self.version = 6
            self.frag = 0
            src_b, dst_b = p[8:24], p[24:40]
            self.src_ip = str(ipaddress.IPv6Address(src_b))
            self.dst_ip = str(ipaddress.IPv6Address(dst_b))
            l4 = p[40:40 + plen]
        else:
            raise ParseError(f"ethertype {etype:#06x}")
        if proto != PROTO_UDP:
            raise ParseError(f"ip protocol {proto}")
        if len(l4) < 8:
            raise ParseError("runt udp")
        self.sport, self.dport, ulen, csum = struct.unpack("!HHHH", l4[:8])
        if ulen < 8 or ulen > len(l4):
            raise ParseError(f"udp length {ulen} with {len(l4)} bytes")
        self.udp_len = ulen
        self.udp_checksum = csum
        seg = l4[:ulen]
        if csum == 0:
            # IPv4 allows "no checksum"; IPv6 does not (RFC 8200 §8.1).
            self.udp_checksum_ok = self.version == 4
        else:
            self.udp_checksum_ok = ones_sum(
                _pseudo(src_b, dst_b, PROTO_UDP, ulen) + seg) == 0xFFFF
        self.payload = seg[8:]
        self.trailing = len(l4) - ulen  # e.g. Ethernet padding

    def flow(self):
        return (self.src_ip, self.sport)


def parse(raw):
    return UdpFrame(raw)

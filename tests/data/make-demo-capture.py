#!/usr/bin/python3
"""Turn a text list of DNS queries into a pcap for levee's replay mode.

    tests/data/make-demo-capture.py tests/data/demo-queries.txt /tmp/demo.pcap
    build/control/levee --iface pcap:/tmp/demo.pcap,/tmp/answers.pcap \
        --zone demo.example.=tests/data/demo.zone -- --no-huge -m 512 --no-pci

Each line: NAME TYPE [edns=SIZE] [do] [v6] [count=N]; '#' starts a comment.
Frames go from 192.0.2.1 (or 2001:db8::1 with v6) to 192.0.2.53 port 53.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "system"))
from lvtest import pcap, replay  # noqa: E402
from lvtest.dnsq import Edns, Query  # noqa: E402


def parse_list(path):
    out, fams = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) < 2:
                sys.exit(f"{path}:{lineno}: want NAME TYPE [options]")
            edns, do, fam, count = None, False, 4, 1
            for w in words[2:]:
                if w.startswith("edns="):
                    edns = int(w[5:])
                elif w == "do":
                    do = True
                elif w == "v6":
                    fam = 6
                elif w.startswith("count="):
                    count = int(w[6:])
                else:
                    sys.exit(f"{path}:{lineno}: unknown option {w!r}")
            if do and edns is None:
                edns = 1232
            for _ in range(count):
                out.append(Query(words[0], words[1].upper(),
                                 edns=Edns(edns, do=do) if edns else None))
                fams.append(fam)
    return out, fams


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} QUERY-LIST OUT.pcap")
    queries, fams = parse_list(sys.argv[1])
    frames_ = []
    for i, (q, fam) in enumerate(zip(queries, fams)):
        frames_ += replay.frames_for([q], families=(fam,), start=i)
    pcap.write(sys.argv[2], frames_)
    print(f"{sys.argv[2]}: {len(frames_)} queries")


if __name__ == "__main__":
    main()

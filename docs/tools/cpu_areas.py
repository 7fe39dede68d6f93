#!/usr/bin/env python3
"""Where a lab's CPU goes, by area: reads a CPU profile through `go tool pprof -traces` and gives each
sample to the first area (in the order below) one of whose patterns matches a frame of its stack, then
says how much of the time ended in a system call, in allocation or GC assist, or in the scheduler.

    python3 docs/tools/cpu_areas.py bin/paylab run.cpu      # run.cpu from `paylab run NAME --cpuprofile run.cpu`

The order matters: a follower's log append runs inside raft's RPC handling, so the log store is matched
before raft's transport, and everything under lab.Build is start-up whatever it calls.
"""
import collections
import re
import subprocess
import sys

AREAS = [
    ("start-up (lab.Build)", r"paylab/lab\.Build|regions\.\(\*Network\)\.Connect|seedAccounts"),
    ("checks, export, report", r"paylab/assertions|paylab/results\.Write|ReadReplica|\.Export|results\.Report|gonum"),
    ("toxiproxy (proxy copies, links)", r"github\.com/Shopify/toxiproxy"),
    ("region entry points", r"regions\.\(\*entryPoint\)"),
    ("raft log store (raft-boltdb, fdatasync)", r"raft-boltdb|paylab/nodes/ledger\.\(\*timedStore\)|paylab/nodes/ledger\.\(\*voteStore\)|raft\.\(\*LogCache\)"),
    ("state machine apply (bbolt state file)", r"paylab/nodes/ledger\.\(\*FSM\)|raft\.\(\*Raft\)\.runFSM"),
    ("raft replication, heartbeats, transport", r"github\.com/hashicorp/raft\.|go-msgpack"),
    ("ledger group commit and node", r"paylab/nodes/ledger\.\(\*(groupCommit|Node)\)"),
    ("gateway (handler, batching, signatures, nonces)", r"paylab/nodes/gateway"),
    ("net/http servers (ledger, gateway)", r"net/http\.\(\*conn\)\.serve|net/http\.\(\*connReader\)|net/http\.\(\*Server\)|net/http\.\(\*response\)|net/http\.\(\*chunkWriter\)"),
    ("ledger client (lab clients, gateway to ledger)", r"paylab/nodes/ledger/client"),
    ("DNS (resolver, server, health checks)", r"paylab/regions\.\(\*(Resolver|DNSServer|HealthChecker)\)|miekg/dns|net\.\(\*Resolver\)"),
    ("load generator, recorder, history", r"paylab/lab/load|paylab/results"),
    ("lab health sampler", r"paylab/lab/health"),
    ("lab (leader watch, timeline)", r"paylab/lab\.|paylab/faults"),
    ("GC background work", r"runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge"),
    ("scheduler looking for work", r"runtime\.(schedule|findRunnable|mcall|park_m|goexit0|netpoll|sysmon)"),
]
LEAVES = [
    ("system calls", r"syscall\.|Syscall6|runtime\.futex|runtime\.usleep"),
    ("allocation and GC assist", r"runtime\.(mallocgc|newobject|makeslice|makechan|growslice|memclr|gcAssist|scanobject)"),
    ("scheduler and channels", r"runtime\.(gopark|schedule|findRunnable|selectgo|chansend|chanrecv|ready|lock2|unlock2|newproc)"),
]
UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "µs": 0.001}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cpu_areas.py BINARY PROFILE")
    out = subprocess.run(["go", "tool", "pprof", "-traces", sys.argv[1], sys.argv[2]],
                         capture_output=True, text=True, check=True).stdout
    areas, leaves, total = collections.Counter(), collections.Counter(), 0.0
    for block in out.split("-----------+-------------------------------------------------------")[1:]:
        lines = [l for l in block.strip("\n").split("\n") if l.strip()]
        m = lines and re.match(r"\s*([\d.]+)(s|ms|us|µs)\s+(.*)", lines[0])
        if not m:
            continue
        ms = float(m.group(1)) * UNITS[m.group(2)]
        frames = [m.group(3).strip()] + [l.strip() for l in lines[1:]]
        total += ms
        areas[next((a for a, rx in AREAS if any(re.search(rx, f) for f in frames)), "other")] += ms
        leaves[next((a for a, rx in LEAVES if any(re.search(rx, f) for f in frames[:10])), "computation")] += ms
    print(f"{total / 1000:.2f} s of CPU sampled")
    for title, counts in (("by area", areas), ("by where the stack ends", leaves)):
        print(f"-- {title}")
        for a, ms in counts.most_common():
            print(f"{100 * ms / total:5.1f}%  {ms / 1000:6.2f} s  {a}")


if __name__ == "__main__":
    main()

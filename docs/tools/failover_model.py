#!/usr/bin/env python3
"""Monte Carlo model of a leader kill in hashicorp/raft v1.7.3 (3 nodes, pre-vote on).

Each follower's heartbeat timer fires every U(hb, 2hb) and starts an election once the leader has been silent
for hb (raft.go runFollower). A candidate's pre-vote is granted by the other follower only when that one has
itself noticed the dead leader (it no longer "has a leader") and the candidate's log is at least as new; a
refused candidate waits U(E, 2E) and asks again (runCandidate). With probability QDIFF one follower's log is
one entry ahead. Two candidates that pass pre-vote within one vote round split and both wait U(E, 2E).
Network round trip 4 ms, vote persistence 10 ms, first commit 5 ms after the win.

Usage: python3 docs/tools/failover_model.py            (prints p50/p90/p99/max per heartbeat/election pair)
It reproduces FIELD-NOTES' measured leader-kill failover (50/200 ms: p50 ~130 ms; 200/200 ms: p50 ~480 ms).
"""
import random

RTT, VOTE, QDIFF, N = 0.004, 0.010, 0.3, 20000


def failover(hb, E):
    cand = {}
    for f in "AB":
        last_contact = -random.uniform(0, hb / 10)
        t = -random.uniform(0, 2 * hb)
        while True:
            t += random.uniform(hb, 2 * hb)
            if t - last_contact >= hb:
                break
        cand[f] = t
    ahead = random.choice("AB") if random.random() < QDIFF else None

    def grants(c):  # does the other follower grant c on logs?
        return ahead is None or ahead == c

    events = [(cand["A"], "A"), (cand["B"], "B")]
    while True:
        events.sort()
        t, c = events.pop(0)
        o = "B" if c == "A" else "A"
        if cand[o] <= t + RTT / 2 and grants(c):
            split = any(abs(t2 - t) < RTT + VOTE and c2 == o and cand[c] <= t2 + RTT / 2 and grants(o) for t2, c2 in events)
            if split and random.random() < 0.5:
                events = [(e, x) for e, x in events if x != o]
                events += [(t + random.uniform(E, 2 * E), c), (t + random.uniform(E, 2 * E), o)]
                continue
            return t + RTT + VOTE + RTT + 0.005
        events.append((t + random.uniform(E, 2 * E), c))


def main():
    random.seed(9)
    for hb, E in [(0.05, 0.2), (0.05, 0.1), (0.075, 0.15), (0.075, 0.2), (0.1, 0.1), (0.1, 0.2), (0.2, 0.2)]:
        out = sorted(failover(hb, E) for _ in range(N))
        q = lambda p: out[min(len(out) - 1, int(p * len(out)))] * 1000
        print(f"heartbeat {hb*1000:.0f} ms, election {E*1000:.0f} ms: p50 {q(.5):.0f}  p90 {q(.9):.0f}  p99 {q(.99):.0f}  max {out[-1]*1000:.0f} ms")


if __name__ == "__main__":
    main()

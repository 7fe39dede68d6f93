// Package regions owns the simulated world the payment system lives in: the
// topology (regions, zones, where every node sits, the one-way latency
// matrix), the network that carries every connection between two parts of the
// system through its own named toxiproxy proxy (with the verbs faults use to
// break and heal links), the raft stream layer that sends each ledger node's
// raft traffic through those proxies, and the lab DNS (an authoritative server
// for "lab.", a health checker that takes regions in and out of "pay.lab.",
// and the TTL-honouring client resolver).
//
// Everything here binds to and dials 127.0.0.0/8 only. Nothing in this package
// knows about the ledger or the gateway: nodes are names and addresses.
//
// The usual order of construction, for one lab:
//
//	topo := regions.DefaultTopology()          // or decoded from a scenario, then topo.Validate()
//	nw, _ := regions.NewNetwork(ctx, topo, regions.NetworkOptions{ToxiproxyURL: os.Getenv("TOXIPROXY_URL")})
//	defer nw.Close()
//	layers := map[regions.NodeID]*regions.StreamLayer{}
//	for _, n := range topo.LedgerNodes() {
//		layers[n.ID], _ = nw.ListenRaft(n.ID) // its address is registered with nw
//	}
//	nw.Register(redisID, redisAddr)            // every other node's real address
//	_ = nw.Connect(ctx)                        // one proxy per link, matrix latency applied
//	// raft.NewNetworkTransport(layers[id], 3, 10*time.Second, logw) per ledger node
package regions

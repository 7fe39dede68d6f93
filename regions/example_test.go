package regions_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"paylab/regions"
)

// The lab builds one Network per run, opens a raft stream layer per ledger
// node (each registers the node's real address), connects the proxies, and
// hands each layer to raft. Faults then act on named links.
func ExampleNetwork() {
	ctx := context.Background()
	topo := regions.DefaultTopology() // us-east a/b/c hold the ledger; eu-west has clients and a gateway
	nw, err := regions.NewNetwork(ctx, topo, regions.NetworkOptions{})
	if err != nil {
		panic(err)
	}
	defer nw.Close()

	layers := map[regions.NodeID]*regions.StreamLayer{}
	for _, n := range topo.LedgerNodes() {
		if layers[n.ID], err = nw.ListenRaft(n.ID); err != nil {
			panic(err)
		}
	}
	if err := nw.Connect(ctx); err != nil { // gateways and Redis register before this, too
		panic(err)
	}
	for _, id := range []regions.NodeID{"ledger:us-east/a", "ledger:us-east/b"} {
		trans := raft.NewNetworkTransport(layers[id], 3, 10*time.Second, io.Discard)
		defer trans.Close()
		fmt.Println(id, "raft address is its own listener:", trans.LocalAddr() == layers[id].ServerAddress())
	}
	l, _ := nw.Link(regions.LinkID{From: "ledger:us-east/a", To: "ledger:us-east/b"})
	fmt.Println(l.ID, "proxy", l.Proxy, "one-way", l.OneWay, "jitter", l.Jitter)

	// A partition (package faults builds these from the scenario's vocabulary): every link of a node
	// black-holed both ways, its live connections closed.
	var spec regions.FaultSpec
	for _, id := range nw.LinksOf("ledger:us-east/a") {
		spec.Toxics = append(spec.Toxics, regions.LinkToxic{Link: id, Toxic: regions.TimeoutToxic(regions.Both, 0)})
	}
	spec.CloseConnections = true
	cut, err := nw.Inject(ctx, spec)
	if err != nil {
		panic(err)
	}
	fmt.Println("partitioned", len(cut.Links()), "links") // to and from b and c, and from both gateways
	if err := cut.Heal(ctx); err != nil {
		panic(err)
	}
	// Output:
	// ledger:us-east/a raft address is its own listener: true
	// ledger:us-east/b raft address is its own listener: true
	// ledger:us-east/a->ledger:us-east/b proxy ledger_us-east.a--ledger_us-east.b one-way 1ms jitter 0s
	// partitioned 6 links
}

package lab

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"paylab/faults"
	"paylab/lab/load"
	"paylab/nodes/gateway"
	"paylab/nodes/ledger/client"
	"paylab/regions"
	"paylab/results"

	"github.com/redis/go-redis/v9"
)

// clientGroupsPerRegion is how many independent client populations (each with its own resolver cache and
// connections) a region's load comes from; the stale-cache fault switches a fraction of them.
const clientGroupsPerRegion = 10

// gatewayNode is one gateway and what is needed to restart it.
type gatewayNode struct {
	id  regions.NodeID
	cfg gateway.Config   // with Addr set to where it first listened: a restart comes back there
	gw  *gateway.Gateway // nil while down
	rdb *redis.Client    // its Redis, through its own link (nil without Redis); outlives restarts
}

// clientGroup is one population of clients in a region: a resolver (its own DNS cache) and a ledger-API
// client that reaches pay.lab through the region's links, signing every request.
type clientGroup struct {
	res *regions.Resolver
	cl  *client.Client
}

// startGateway starts one gateway: its ledger client reaches every ledger node through the gateway's own
// links, its Redis-backed mechanisms are as topology.gateways sets them (gatewayMechanisms), its breaker
// changes become events.
func (l *Lab) startGateway(id regions.NodeID, region string, key []byte) (*gateway.Gateway, error) {
	urls := map[string]string{}
	for _, ln := range l.ledgerNodes() {
		addr, err := l.nw.Addr(regions.LinkID{From: id, To: ln.id})
		if err != nil {
			return nil, fmt.Errorf("gateway %s: %w", id, err)
		}
		urls[ln.name] = "http://" + addr
	}
	cfg := gateway.DefaultConfig()
	cfg.ID = string(id)
	cfg.Region = region
	cfg.Ledger = client.DefaultConfig(urls)
	// A leader cut off mid-request must cost one short attempt, not the client's whole budget:
	// the client then tries the next node within the same deadline.
	cfg.Ledger.AttemptTimeout = max(100*time.Millisecond, l.s.Workload.Timeout/4)
	cfg.Ledger.Deadline = l.s.Workload.Timeout
	cfg.SigningKey = key
	cfg.Counts = &gateway.Counts{}
	rdb, err := l.gatewayMechanisms(&cfg, id, region)
	if err != nil {
		return nil, err
	}
	cfg.OnBreakerChange = func(t gateway.BreakerTransition) {
		l.Record(results.BreakerEvent(l.Since(t.At), string(id), t.From.String(), t.To.String(), t.Reason))
	}
	g, err := gateway.Start(cfg)
	if err != nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, fmt.Errorf("start gateway %s: %w", id, err)
	}
	cfg.Addr = g.Addr()
	l.mu.Lock()
	l.gateways = append(l.gateways, &gatewayNode{id: id, cfg: cfg, gw: g, rdb: rdb})
	l.mu.Unlock()
	return g, nil
}

// startGateways starts every region's gateways, registers them with the network, connects the client and
// gateway links, starts the lab DNS and its health checker, and builds the client populations.
func (l *Lab) startGateways(ctx context.Context) error {
	topo := l.s.Topology
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signer, err := gateway.NewSigner(key)
	if err != nil {
		return err
	}
	l.signer, l.signKey = signer, key
	for _, r := range topo.Regions {
		for _, n := range topo.GatewayNodes(r.Name) {
			g, err := l.startGateway(n.ID, r.Name, key)
			if err != nil {
				return err
			}
			if err := l.nw.Register(n.ID, g.Addr()); err != nil {
				return err
			}
		}
	}
	if err := l.nw.Connect(ctx); err != nil {
		return fmt.Errorf("connect gateway links: %w", err)
	}
	l.dns, err = regions.StartDNS(regions.DNSConfigFor(topo, l.s.Seed))
	if err != nil {
		return fmt.Errorf("start lab DNS: %w", err)
	}
	var targets []regions.HealthTarget
	for _, r := range topo.Regions {
		entry, ok := l.nw.EntryAddr(r.Name)
		if !ok {
			return fmt.Errorf("region %s has no entry point", r.Name)
		}
		targets = append(targets, regions.HealthTarget{Region: r.Name, URL: "http://" + entry + "/healthz"})
	}
	l.health, err = regions.StartHealthChecker(ctx, regions.HealthConfig{
		Targets: targets, Interval: topo.DNS.HealthInterval, Threshold: topo.DNS.HealthThreshold,
		OnChange: func(e regions.HealthEvent) {
			_ = l.dns.SetHealthy(e.Region, e.Healthy)
			state := "out of"
			if e.Healthy {
				state = "back in"
			}
			l.Record(results.Event{At: l.Since(e.Time), Kind: results.EventDNS, Name: "dns", Target: e.Region, Detail: fmt.Sprintf("%s pay.lab (%s)", state, e.Reason)})
		},
	})
	if err != nil {
		return fmt.Errorf("start health checker: %w", err)
	}
	l.logf("gateways: %d in %d regions; lab DNS on %s (pay.lab TTL %v), entry port %d", len(l.gateways), len(topo.Regions), l.dns.Addr(), topo.DNS.TTL, l.nw.EntryPort())
	return l.startClientGroups()
}

func (l *Lab) startClientGroups() error {
	l.groups = map[string][]*clientGroup{}
	l.staleFraction = map[string]float64{}
	url := "http://pay.lab:" + strconv.Itoa(l.nw.EntryPort())
	for _, region := range l.s.Workload.From {
		dial, err := l.nw.ClientDialer(region)
		if err != nil {
			return err
		}
		for i := 0; i < clientGroupsPerRegion; i++ {
			res, err := regions.NewResolver(regions.ResolverOptions{Server: l.dns.Addr(), Dial: dial})
			if err != nil {
				return err
			}
			ccfg := client.DefaultConfig(map[string]string{"pay": url})
			ccfg.MaxConnsPerNode = max(1, l.s.Workload.MaxConnections/(clientGroupsPerRegion*len(l.s.Workload.From)))
			ccfg.IdleTimeout = 30 * time.Second
			ccfg.AttemptTimeout = l.s.Workload.Timeout
			ccfg.Deadline = l.s.Workload.Timeout
			ccfg.Dial = res.DialContext
			ccfg.Signer = l.signer
			cl, err := client.New(ccfg)
			if err != nil {
				return err
			}
			l.groups[region] = append(l.groups[region], &clientGroup{res: res, cl: cl})
		}
	}
	return nil
}

// SetClientsIgnoreTTL makes a fraction of a region's client populations keep their cached DNS answers
// past the TTL (the stale-cache fault) and returns the fraction that did before; fraction 0 restores them.
func (l *Lab) SetClientsIgnoreTTL(region string, fraction float64) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gs, ok := l.groups[region]
	if !ok {
		return 0, fmt.Errorf("no clients in region %q", region)
	}
	prev := l.staleFraction[region]
	n := faults.StaleClients(fraction, len(gs))
	for i, g := range gs {
		g.res.SetIgnoreTTL(i < n)
	}
	l.staleFraction[region] = fraction
	return prev, nil
}

// DNS is the lab DNS server.
func (l *Lab) DNS() *regions.DNSServer { return l.dns }

// gatewayTarget plays the workload through the gateways: each request comes from one client population of
// its region (chosen by its key), resolves pay.lab through that population's DNS cache and crosses the
// region's client links.
type gatewayTarget struct {
	l       *Lab
	regions []string
}

var _ load.Target = gatewayTarget{}

func (g gatewayTarget) group(region int, key uint64) *clientGroup {
	gs := g.l.groups[g.regions[region%len(g.regions)]]
	return gs[key%uint64(len(gs))]
}

// Transfer implements load.Target.
func (g gatewayTarget) Transfer(ctx context.Context, region int, t load.Transfer) load.Outcome {
	return load.LedgerTarget{Client: g.group(region, t.Key).cl}.Transfer(ctx, region, t)
}

// Read implements load.Target.
func (g gatewayTarget) Read(ctx context.Context, region int, account int, stale bool) load.Outcome {
	return load.LedgerTarget{Client: g.group(region, uint64(account)).cl}.Read(ctx, region, account, stale)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"paylab/lab"
	"paylab/regions"
	"paylab/scenarios"
)

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprintln(stderr, "Usage: paylab lab up [--regions N --zones M | --file topology-scenario.yaml] [--for D]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return errHelp
		}
		return fmt.Errorf("%w: lab takes the subcommand up", errUsage)
	}
	fs := flag.NewFlagSet("paylab lab up", flag.ContinueOnError)
	nRegions := fs.Int("regions", 2, "regions (1..8)")
	nZones := fs.Int("zones", 3, "zones in the first region, which holds the ledger nodes (1..9)")
	file := fs.String("file", "", "take the topology (and accounts) from this scenario file instead of the flags")
	lifetime := fs.Duration("for", 30*time.Minute, "stop by itself after this long (Ctrl-C stops it sooner)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab lab up [flags]\n\nStarts a topology — ledger nodes, gateways, toxiproxy, lab DNS — prints every address, and keeps it\nrunning until Ctrl-C or --for passes, so a person can poke it with curl, dig and toxiproxy-cli.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if *lifetime <= 0 || *lifetime > 24*time.Hour {
		return fmt.Errorf("%w: --for %v must be in (0, 24h]", errUsage, *lifetime)
	}
	var s *scenarios.Scenario
	if *file != "" {
		var err error
		if s, _, err = scenarios.LoadNamed(*file); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	} else {
		if *nRegions < 1 || *nRegions > 8 || *nZones < 1 || *nZones > 9 {
			return fmt.Errorf("%w: --regions must be 1..8 and --zones 1..9", errUsage)
		}
		s = flagScenario(*nRegions, *nZones)
	}
	dir, err := os.MkdirTemp("", "paylab-lab-")
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer os.RemoveAll(dir)
	l, err := lab.Build(ctx, s, lab.Options{Dir: filepath.Join(dir, "nodes"), ToxiproxyURL: os.Getenv("TOXIPROXY_URL"), Log: stdout})
	if err != nil {
		return fmt.Errorf("%w: lab up: %v", errUsage, err)
	}
	defer l.Close()
	printAddresses(stdout, l)
	fmt.Fprintf(stdout, "\nrunning; Ctrl-C stops it (or it stops by itself in %v)\n", *lifetime)
	t := time.NewTimer(*lifetime)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	fmt.Fprintln(stdout, "stopping")
	return nil
}

// flagScenario is a topology of n regions, the first with z zones holding one ledger node each.
func flagScenario(n, z int) *scenarios.Scenario {
	names := []string{"us-east", "eu-west", "ap-south", "us-west", "eu-north", "sa-east", "ap-east", "af-south"}
	topo := regions.DefaultTopology()
	topo.Regions = nil
	topo.Ledger.Nodes = nil
	for i := 0; i < n; i++ {
		r := regions.Region{Name: names[i], Zones: []string{"a"}}
		if i == 0 {
			r.Zones = nil
			for j := 0; j < z; j++ {
				r.Zones = append(r.Zones, string(rune('a'+j)))
				topo.Ledger.Nodes = append(topo.Ledger.Nodes, regions.Placement{Region: names[0], Zone: string(rune('a' + j))})
			}
		}
		topo.Regions = append(topo.Regions, r)
	}
	s := scenarios.Default()
	s.Name, s.Topology, s.Seed = "lab-up", topo, 1
	s.Derive()
	return &s
}

func printAddresses(w io.Writer, l *lab.Lab) {
	a := l.Addresses()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\ntoxiproxy API\thttp://%s\t(toxiproxy-cli -h http://%s list; %d proxies)\n", a.Toxiproxy, a.Toxiproxy, a.Links)
	host, port, _ := strings.Cut(a.DNS, ":")
	fmt.Fprintf(tw, "lab DNS\t%s\t(dig @%s -p %s pay.lab)\n", a.DNS, host, port)
	regionsSorted := make([]string, 0, len(a.Entries))
	for r := range a.Entries {
		regionsSorted = append(regionsSorted, r)
	}
	sort.Strings(regionsSorted)
	for _, r := range regionsSorted {
		fmt.Fprintf(tw, "entry %s\thttp://%s\t(signed gateway API; pay.lab resolves to these)\n", r, a.Entries[r])
	}
	for _, n := range a.Ledgers {
		fmt.Fprintf(tw, "ledger %s (%s)\t%s\traft %s  (curl %s/v1/status)\n", n.Name, n.ID, n.URL, n.Raft, n.URL)
	}
	for _, g := range a.Gateways {
		fmt.Fprintf(tw, "gateway %s\t%s\t(curl %s/healthz)\n", g.ID, g.URL, g.URL)
	}
	fmt.Fprintf(tw, "signing key\t%s\t(HMAC-SHA256; see nodes/gateway)\n", l.SigningKeyHex())
	if len(a.Entries) > 0 {
		first := regionsSorted[0]
		fmt.Fprintf(tw, "load it\tpaylab load --ledger gw=http://%s --sign-key %s --create-accounts=false --rate 200 --duration 10s\t\n", a.Entries[first], l.SigningKeyHex())
	}
	tw.Flush()
}

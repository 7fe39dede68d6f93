package regions

import (
	"context"
	"errors"
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// toxiproxy's names for the two streams of a proxy.
const (
	streamUp   = "upstream"   // From → To
	streamDown = "downstream" // To → From
)

// Direction says which bytes of a link a toxic acts on.
type Direction int

// Directions of a link.
const (
	// Both directions.
	Both Direction = iota
	// Forward is the bytes From sends to To (toxiproxy's "upstream").
	Forward
	// Backward is the bytes To sends back to From (toxiproxy's "downstream").
	Backward
)

// String returns "both", "forward" or "backward".
func (d Direction) String() string {
	switch d {
	case Forward:
		return "forward"
	case Backward:
		return "backward"
	}
	return "both"
}

func (d Direction) streams() []string {
	switch d {
	case Forward:
		return []string{streamUp}
	case Backward:
		return []string{streamDown}
	}
	return []string{streamUp, streamDown}
}

// Toxic is one toxiproxy toxic: its type ("latency", "bandwidth", "slicer",
// "reset_peer", "timeout", "limit_data", …), the direction it acts on, the
// fraction of connections it touches, and its attributes as toxiproxy names
// them. The constructors below fill the common ones.
type Toxic struct {
	Type      string
	Direction Direction
	// Toxicity is the fraction of connections the toxic acts on, 0 to 1; nil
	// means every connection (1). It is a pointer so that 0 — a fault turned
	// down to nothing — stays 0 instead of reading as "unset" (issue 10).
	Toxicity   *float32
	Attributes map[string]any
}

// WithToxicity returns t acting on fraction (0 to 1) of the connections.
func (t Toxic) WithToxicity(fraction float32) Toxic {
	t.Toxicity = &fraction
	return t
}

// LatencyToxic delays every chunk by latency ± jitter (whole milliseconds).
func LatencyToxic(dir Direction, latency, jitter time.Duration) Toxic {
	return Toxic{Type: "latency", Direction: dir, Attributes: map[string]any{
		"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()}}
}

// BandwidthToxic limits throughput to rateKBps kilobytes per second.
func BandwidthToxic(dir Direction, rateKBps int64) Toxic {
	return Toxic{Type: "bandwidth", Direction: dir, Attributes: map[string]any{"rate": rateKBps}}
}

// SlicerToxic cuts data into chunks of about averageSize ± sizeVariation
// bytes with delay between them.
func SlicerToxic(dir Direction, averageSize, sizeVariation int, delay time.Duration) Toxic {
	return Toxic{Type: "slicer", Direction: dir, Attributes: map[string]any{
		"average_size": averageSize, "size_variation": sizeVariation, "delay": delay.Microseconds()}}
}

// ResetPeerToxic resets connections (TCP RST) after timeout (0: at once).
func ResetPeerToxic(dir Direction, timeout time.Duration) Toxic {
	return Toxic{Type: "reset_peer", Direction: dir, Attributes: map[string]any{"timeout": timeout.Milliseconds()}}
}

// TimeoutToxic swallows all data; it closes the connection after timeout,
// or never when timeout is 0.
func TimeoutToxic(dir Direction, timeout time.Duration) Toxic {
	return Toxic{Type: "timeout", Direction: dir, Attributes: map[string]any{"timeout": timeout.Milliseconds()}}
}

// LinkToxic is a toxic to put on one link.
type LinkToxic struct {
	Link  LinkID
	Toxic Toxic
}

// FaultSpec is what Inject does: put each toxic on its link, then, with
// CloseConnections, close every live connection through the touched links
// (disable and re-enable their proxies) so the fault bites at once rather
// than when some timeout fires.
type FaultSpec struct {
	Toxics           []LinkToxic
	CloseConnections bool
}

// Fault is a fault injected into the network: it remembers exactly the
// toxics it added, and Heal removes those and nothing else.
type Fault struct {
	nw     *Network
	name   string
	spec   FaultSpec
	added  []addedToxic
	healed bool
}

type addedToxic struct {
	link LinkID
	name string
}

// Name is the fault's name; the toxics it adds are called NAME-<n>-<type>-<stream>.
func (f *Fault) Name() string { return f.name }

// Links returns the links the fault touches.
func (f *Fault) Links() []LinkID { return touchedLinks(f.spec) }

func touchedLinks(spec FaultSpec) []LinkID {
	seen := map[LinkID]bool{}
	var out []LinkID
	for _, t := range spec.Toxics {
		if !seen[t.Link] {
			seen[t.Link] = true
			out = append(out, t.Link)
		}
	}
	return out
}

// Inject applies spec. If any step fails, what was already added is removed
// again and the error says which step failed. ctx is checked between
// toxiproxy calls (each is bounded by the client's own 30 s timeout).
func (n *Network) Inject(ctx context.Context, spec FaultSpec) (*Fault, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("inject fault: %w", ErrClosed)
	}
	for _, t := range spec.Toxics {
		if _, ok := n.links[t.Link]; !ok {
			return nil, fmt.Errorf("inject fault on %s: %w", t.Link, ErrNotConnected)
		}
	}
	n.faultSeq++
	f := &Fault{nw: n, name: fmt.Sprintf("fault%d", n.faultSeq), spec: spec}
	err := func() error {
		for i, t := range spec.Toxics {
			toxicity := float32(1)
			if t.Toxic.Toxicity != nil {
				toxicity = *t.Toxic.Toxicity
			}
			if toxicity < 0 || toxicity > 1 {
				return fmt.Errorf("toxic %s on %s: toxicity %v, want 0 to 1", t.Toxic.Type, t.Link, toxicity)
			}
			for _, s := range t.Toxic.Direction.streams() {
				if err := ctx.Err(); err != nil {
					return err
				}
				name := fmt.Sprintf("%s-%d-%s-%s", f.name, i, t.Toxic.Type, s)
				l := n.links[t.Link]
				if _, err := l.proxy.AddToxic(name, t.Toxic.Type, s, toxicity, toxiclient.Attributes(t.Toxic.Attributes)); err != nil {
					return fmt.Errorf("add %s toxic %s to %s: %w", t.Toxic.Type, name, t.Link, err)
				}
				f.added = append(f.added, addedToxic{link: t.Link, name: name})
			}
		}
		if spec.CloseConnections {
			return n.bounceLocked(ctx, touchedLinks(spec))
		}
		return nil
	}()
	if err != nil {
		healErr := n.healLocked(context.WithoutCancel(ctx), f)
		return nil, fmt.Errorf("inject %s: %w", f.name, errors.Join(err, healErr))
	}
	n.faults[f] = struct{}{}
	return f, nil
}

// Heal removes the toxics this fault added, and nothing else. A fault that
// dropped bytes (CloseConnections, or any timeout toxic) also closes the live
// connections through its links, because a stream that lost bytes in the
// middle is corrupt; the other side reconnects. Healing twice is a no-op.
func (f *Fault) Heal(ctx context.Context) error {
	f.nw.mu.Lock()
	defer f.nw.mu.Unlock()
	if f.nw.closed {
		return nil // the proxies are gone
	}
	return f.nw.healLocked(ctx, f)
}

func (n *Network) healLocked(ctx context.Context, f *Fault) error {
	if f.healed {
		return nil
	}
	var errs []error
	for len(f.added) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("heal %s: %w", f.name, err)
		}
		a := f.added[len(f.added)-1]
		if l, ok := n.links[a.link]; ok {
			if err := l.proxy.RemoveToxic(a.name); err != nil {
				errs = append(errs, fmt.Errorf("remove toxic %s from %s: %w", a.name, a.link, err))
			}
		}
		f.added = f.added[:len(f.added)-1]
	}
	dropsBytes := f.spec.CloseConnections
	for _, t := range f.spec.Toxics {
		dropsBytes = dropsBytes || t.Toxic.Type == "timeout"
	}
	if dropsBytes {
		errs = append(errs, n.bounceLocked(ctx, touchedLinks(f.spec)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("heal %s: %w", f.name, err)
	}
	f.healed = true
	delete(n.faults, f)
	return nil
}

// bounceLocked disables and re-enables each link's proxy: toxiproxy closes
// every live connection through it, and the proxy listens again on the same
// address. A link towards a node that is down is left disabled (it has no
// connections).
func (n *Network) bounceLocked(ctx context.Context, ids []LinkID) error {
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("close connections of %s: %w", id, err)
		}
		if n.down[id.To] {
			continue
		}
		l := n.links[id]
		if err := l.proxy.Disable(); err != nil {
			return fmt.Errorf("disable proxy %s: %w", l.info.Proxy, err)
		}
		if err := l.proxy.Enable(); err != nil {
			return fmt.Errorf("re-enable proxy %s: %w", l.info.Proxy, err)
		}
	}
	return nil
}

// HealAll heals every fault still active, e.g. on the lab's way out.
func (n *Network) HealAll(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for f := range n.faults {
		errs = append(errs, n.healLocked(ctx, f))
	}
	return errors.Join(errs...)
}

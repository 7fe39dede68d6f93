package assertions

import "time"

// Ask is what an assertion asks the lab to do before the lab builds the checkers' Input: an
// assertion declares it in the catalogue, from its parameters (Definition.ask), and the lab reads
// it from the checker's Ask method (through a one-method interface of its own). The zero Ask asks
// nothing.
type Ask struct {
	// ConvergeWithin is how long the lab should wait for the replicas to converge before it
	// exports them (0: no wait asked).
	ConvergeWithin time.Duration
}

// Ask is what this checker's definition asks of the lab.
func (c *checker) Ask() Ask { return c.ask }

// askConverge is replicas_converge's ask: wait up to its within parameter.
func askConverge(p *params) Ask { return Ask{ConvergeWithin: p.duration("within")} }

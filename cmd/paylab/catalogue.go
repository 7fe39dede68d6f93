package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"paylab/assertions"
	"paylab/faults"
)

func runFaults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab faults", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab faults\n\nLists every fault a scenario's timeline may use, with its target grammar and parameters.")
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return faults.WriteCatalogue(stdout)
}

func runAssertions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab assertions", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab assertions\n\nLists every assertion a scenario may check.")
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	for _, name := range assertions.Names() {
		d, _ := assertions.Lookup(name)
		fmt.Fprintf(stdout, "%-20s %s\n", d.Name, d.Summary)
		for _, p := range d.Params {
			req := ""
			if p.Required {
				req = ", required"
			} else if p.Default != "" {
				req = ", default " + p.Default
			}
			fmt.Fprintf(stdout, "%-22s %s (%v%s): %s\n", "", p.Name, p.Kind, req, p.Doc)
		}
	}
	fmt.Fprintln(stdout, "\nEvery assertion also takes id: NAME, what expect.failing calls the entry (default: the assertion's name),\nso two entries of one assertion can expect different verdicts. Phases are checked against the timeline.")
	return nil
}

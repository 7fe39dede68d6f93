package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses args for a command that takes no positional arguments; flag errors become errUsage
// (exit 2) and -h becomes errHelp.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// parseArgs parses args, leaving positional arguments in fs.Args().
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

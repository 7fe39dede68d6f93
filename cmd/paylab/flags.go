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

// parseArgs parses args, flags and positional arguments in any order ("run NAME --profile" as well as
// "run --profile NAME"); the positional arguments end up in fs.Args(). A "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			// The flag package has printed the error and the usage already.
			return printedError{fmt.Errorf("%w: %v", errUsage, err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...) // everything after "--" is positional
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where fs.Args() finds them.
	return fs.Parse(append([]string{"--"}, positional...))
}

// printedError is an error already shown to the user (the flag package prints its own errors with the
// usage): exitCode returns its code without printing it again.
type printedError struct{ error }

func (e printedError) Unwrap() error { return e.error }

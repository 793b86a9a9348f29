package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes. They are part of the interface: scripts test them, so a code
// never changes meaning. README.md documents them.
const (
	exitOK          = 0
	exitInternal    = 1 // an unexpected failure: I/O, a bug
	exitUsage       = 2 // bad command line
	exitConfig      = 3 // the config file or environment is wrong
	exitData        = 4 // the recipients, the template or some rows are wrong; nothing was sent
	exitLocked      = 9 // another send of the same mailing holds the journal
	exitInterrupted = 130
)

// exitError carries an exit code and an optional hint for the user.
type exitError struct {
	code  int
	err   error
	hint  string
	quiet bool // the problems were printed already
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...), hint: "run mailmerge help for usage"}
}

// exitCode prints err (once) and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitInternal
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if !ee.quiet {
			for _, line := range strings.Split(ee.err.Error(), "\n") {
				fmt.Fprintf(stderr, "mailmerge: %s\n", line)
			}
		}
		if ee.hint != "" {
			for _, line := range strings.Split(ee.hint, "\n") {
				fmt.Fprintf(stderr, "hint: %s\n", line)
			}
		}
		return code
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "mailmerge: interrupted")
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "mailmerge: %v\n", err)
	return code
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailmerge/mailmerge/internal/mailing"
)

// Exit codes. They are part of the interface: scripts test them, so a code
// never changes meaning. README.md and help/exit-codes.txt document them.
const (
	exitOK          = 0
	exitInternal    = 1   // an unexpected failure: I/O, a bug
	exitUsage       = 2   // bad command line
	exitConfig      = 3   // the config file or environment is wrong
	exitData        = 4   // the recipients, the template or some rows are wrong; nothing was sent
	exitSomeFailed  = 5   // some letters were refused for good
	exitRerun       = 6   // some letters are deferred, unknown or not sent yet: run again later
	exitAuth        = 7   // the server rejected the credentials
	exitUnavailable = 8   // no connection, TLS failed, or the server refuses letter after letter
	exitLocked      = 9   // another send of the same mailing holds the journal
	exitUnknown     = 10  // only letters of unknown fate are left: the user decides
	exitInterrupted = 130 // Ctrl-C or SIGTERM
)

// exitCodes maps each kind of failure to its exit code.
var exitCodes = map[mailing.Kind]int{
	mailing.Internal:    exitInternal,
	mailing.Usage:       exitUsage,
	mailing.Config:      exitConfig,
	mailing.Data:        exitData,
	mailing.SomeFailed:  exitSomeFailed,
	mailing.Rerun:       exitRerun,
	mailing.Auth:        exitAuth,
	mailing.Unavailable: exitUnavailable,
	mailing.Locked:      exitLocked,
	mailing.UnknownLeft: exitUnknown,
	mailing.Interrupted: exitInterrupted,
}

func usageError(format string, args ...any) error {
	return &mailing.Error{Kind: mailing.Usage, Err: fmt.Errorf(format, args...), Hint: "run mailmerge help for usage"}
}

// asError is err as an *mailing.Error: its own, or an internal failure
// (an interruption, when it is one).
func asError(err error) *mailing.Error {
	var e *mailing.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.Canceled):
		return &mailing.Error{Kind: mailing.Interrupted, Err: err}
	}
	return &mailing.Error{Kind: mailing.Internal, Err: err}
}

// exitCode prints err (once) and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	var e *mailing.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "mailmerge: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "mailmerge: %v\n", err)
		return exitInternal
	}
	if !e.Quiet {
		for _, line := range strings.Split(e.Err.Error(), "\n") {
			fmt.Fprintf(stderr, "mailmerge: %s\n", line)
		}
	}
	for _, line := range strings.Split(e.Hint, "\n") {
		if line != "" {
			fmt.Fprintf(stderr, "hint: %s\n", line)
		}
	}
	return exitCodes[e.Kind]
}

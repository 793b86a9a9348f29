package mailing

import "errors"

// Kind is what kind of failure ended a use case. The command maps each
// kind to an exit code.
type Kind int

// Kinds of failure.
const (
	Internal    Kind = iota // an unexpected failure: I/O, a bug
	Usage                   // a bad command line, or a question not answered yes
	Config                  // the config file or the environment is wrong
	Data                    // the recipients, the template or some rows are wrong; nothing was sent
	SomeFailed              // some letters were refused for good, or invalid rows were left out
	Rerun                   // letters are deferred or not sent yet: run again later
	Auth                    // a server rejected the credentials
	Unavailable             // no connection, TLS failed, no such folder, or letter after letter refused
	Locked                  // another send holds this mailing, or a copy of it sent it
	UnknownLeft             // only letters of unknown fate are left: the user decides
	Interrupted             // stopped on request
)

// Error is a failure of a use case, with what the user can do about it.
type Error struct {
	Kind  Kind
	Err   error
	Hint  string // plain words: what to do next; may have several lines
	Quiet bool   // the problems were said already: Err need not be printed
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// fail returns err as an *Error of kind k (err's own kind and hint, when
// it is one already).
func fail(k Kind, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: k, Err: err}
}

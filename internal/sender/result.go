package sender

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Verdict is what Classify makes of one attempt at a letter: delivered,
// failed for good, temporary (to be tried again), or unknown. The
// journal records it as the letter's state.
type Verdict int

// The verdicts on an attempt.
const (
	Delivered Verdict = iota + 1
	Failed            // permanent for this letter: never retried
	Temporary         // retry later, within the attempt limit
	Unknown           // the connection was lost after the final dot
)

func (v Verdict) String() string {
	return [...]string{"", "delivered", "failed", "temporary", "unknown"}[v]
}

// Phases of a delivery that are not SMTP's (smtp.PhaseMAIL, ...), as
// result records name them.
const (
	PhaseWrite = "WRITE"
	PhaseBuild = "BUILD" // writing the letter out, before any attempt
)

// Result is the result of one attempt at one letter.
type Result struct {
	Verdict  Verdict
	Phase    string
	Code     int
	Enhanced string // "5.1.1"; empty if the server gave none
	Text     string
	Rejected []journal.Rejection // recipients refused while others were accepted
	// Reconnect says the session cannot be used again (a 421, a network
	// error, a timeout).
	Reconnect bool
	// Known is what the reply says of the sending account, when it is one
	// smtp.Recognize knows: a quota reached, too many sessions, a login
	// refused. The letter is then not at fault: its verdict is Temporary,
	// and the dispatcher decides for the account (dispatcher.heed).
	Known smtp.Known
	// Stop is a run-level failure: the whole run ends (journal not
	// writable, authentication lost).
	Stop error
	// Taken says the letter was not sent because another process took
	// it over (journal.ErrTaken): nothing is recorded of the attempt.
	Taken bool
}

// Classify turns the error of a command in phase into a Result, by the
// reply code and its enhanced status code (RFC 3463), not the first digit
// alone; a reply about the sending account (smtp.Recognize), by its text,
// is temporary for the letter whatever its code.
func Classify(phase string, err error) Result {
	if err == nil {
		return Result{Verdict: Delivered, Phase: phase}
	}
	var se *smtp.Reply
	if !errors.As(err, &se) {
		// No reply: a network error or a timeout. After the final dot the
		// server may have taken the letter.
		r := Result{Phase: phase, Text: describeNetErr(err), Reconnect: true, Verdict: Temporary}
		if phase == smtp.PhaseEOD {
			r.Verdict = Unknown
		}
		return r
	}
	r := Result{Phase: phase, Code: se.Code, Enhanced: se.Enhanced, Text: se.Text}
	// A reply about the account comes first: Microsoft's daily quota is
	// a 554 5.2.0, which the codes alone make a failure for good.
	if r.Known = smtp.Recognize(se.Code, se.Enhanced, se.Text); r.Known.Account != smtp.Ordinary {
		r.Verdict = Temporary
		r.Reconnect = se.Code == 421 || r.Known.Account == smtp.TooManySessions
		return r
	}
	class := se.Code / 100
	switch {
	case se.Code == 421:
		r.Verdict, r.Reconnect = Temporary, true
	case class == 4:
		r.Verdict = Temporary
	case se.Code == 552 && phase == smtp.PhaseRCPT:
		// RFC 5321 §4.5.3.1.10: treat as 452, too many recipients.
		r.Verdict = Temporary
	case class == 5 && (r.Enhanced == "5.2.2" || r.Enhanced == "5.4.5"):
		// Mailbox full, or congestion: the problem may pass.
		r.Verdict = Temporary
	case class == 5:
		r.Verdict = Failed
	default:
		r.Verdict = Failed
		r.Text = fmt.Sprintf("unexpected reply %d: %s", se.Code, r.Text)
	}
	return r
}

// policy reports rejections that may repeat for every letter: the
// server's policy (5.7.x), congestion (5.4.5), a 4.7.x that speaks of a
// rate. Several in a row stop the run. A reply that says plainly that the
// account's quota is reached stops it at once (Result.Known).
func (r Result) policy() bool {
	return strings.HasPrefix(r.Enhanced, "5.7.") || r.Enhanced == "5.4.5" ||
		strings.HasPrefix(r.Enhanced, "4.7.") && strings.Contains(strings.ToLower(r.Text), "rate")
}

func describeNetErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// RunError is a failure that ends the whole run, or, in a run with
// several accounts, stops one of them (Account).
type RunError struct {
	Kind     RunErrorKind
	Account  string // the account it stopped, of several; "" for the one account
	Phase    string
	Code     int
	Enhanced string // RFC 3463 code, if the reply had one
	Text     string
	Err      error
	// Hint says in plain words what the failure most likely means and
	// what to change, when that is known.
	Hint string
}

// RunErrorKind tells the command which exit code a RunError gets.
type RunErrorKind int

// Kinds of run-level failures.
const (
	ErrUnavailable RunErrorKind = iota + 1 // no session could be opened
	ErrAuth                                // authentication rejected
	ErrTLS                                 // TLS required but failed or not offered
	ErrPolicy                              // the server refuses letter after letter
	ErrJournal                             // the journal cannot be written
	// ErrQuota: the account reached a limit of the provider's (letters a
	// day, a rate, sessions at once); the letters not sent stay due, and
	// a later run sends them.
	ErrQuota
)

// accountError is the run-level failure a reply about the account
// brings, with what to do in plain words.
func accountError(kind RunErrorKind, res Result) *RunError {
	return &RunError{Kind: kind, Phase: res.Phase, Code: res.Code, Enhanced: res.Enhanced, Text: res.Text, Hint: res.Known.Advice()}
}

func (e *RunError) Error() string {
	s := e.Text
	if e.Enhanced != "" {
		s = e.Enhanced + " " + s
	}
	if e.Code != 0 {
		s = fmt.Sprintf("%d %s", e.Code, s)
	}
	if e.Phase != "" {
		s = e.Phase + ": " + s
	}
	if e.Account != "" {
		s = "account " + e.Account + ": " + s
	}
	return s
}

func (e *RunError) Unwrap() error { return e.Err }

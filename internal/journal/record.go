package journal

import (
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Record is one line of the journal.
type Record struct {
	Time time.Time  `json:"time"`
	Key  letter.Key `json:"key"`
	// Dest is where the letter was sent ("smtp:host:port",
	// "maildir:/path"); empty in records older than destinations, which
	// count for every destination.
	Dest string `json:"dest,omitempty"`
	// Test is the address a test send went to instead of the letter's
	// recipients (send --redirect-to). Test sends settle nothing.
	Test string `json:"test,omitempty"`
	// Account is the account of several (the config's accounts:) that
	// made the attempt; "" for a mailing's one account.
	Account string `json:"account,omitempty"`
	Line    int    `json:"line"`
	// Rcpt are the envelope recipients of the attempt. Part says they are
	// some of the letter's, the ones still due: the others' states stand.
	Rcpt []string `json:"rcpt"`
	Part bool     `json:"part,omitempty"`
	// FP is the fingerprint of the letter's row (letter.Fingerprint);
	// records older than fingerprints have none.
	FP uint64 `json:"fp,omitempty"`
	// Made is the letter's letter.Made; records older than it have none.
	Made      uint64 `json:"made,omitempty"`
	MessageID string `json:"msgid"`
	Attempt   int    `json:"attempt"`
	State     State  `json:"state"`
	Phase     string `json:"phase,omitempty"`
	Code      int    `json:"code,omitempty"`
	Enhanced  string `json:"enhanced,omitempty"`
	Text      string `json:"text,omitempty"`
	Millis    int64  `json:"ms,omitempty"`
	// Rejected are the recipients the server refused at RCPT, each with
	// its own state; State is then that of the others (or, when all were
	// refused, the mildest of theirs).
	Rejected []Rejection `json:"rejected,omitempty"`
	// Report is the Message-ID of the delivery report a Bounced or
	// Delayed record comes from, so that reading the mailbox again adds
	// nothing.
	Report string `json:"report,omitempty"`
	// Copy is the folder a Copying or Copied record saves the letter in.
	Copy string `json:"copy,omitempty"`
}

// Stopped is the Text of an outcome the user cut off (a second Ctrl-C
// aborts the letters in flight), where no server or network said
// anything: its state is what the point reached makes it (deferred
// before the letter's end, unknown after), and its words say who
// stopped it (report.Reply).
const Stopped = "stopped by you"

// Rejection is a recipient the server refused at RCPT.
type Rejection struct {
	Rcpt     string `json:"rcpt"`
	State    State  `json:"state,omitempty"` // failed or deferred
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
}

// Final is the recipient's state: records older than per-recipient
// states name only refusals for good.
func (r Rejection) Final() State {
	if r.State == "" {
		return Failed
	}
	return r.State
}

// Final returns the state a letter is in when r is its last record: eod
// without an outcome is Unknown.
func (r Record) Final() State {
	if r.State == EOD {
		return Unknown
	}
	return r.State
}

// SMTP is the destination of every letter sent to an SMTP server.
const SMTP = "smtp"

// Destination is the logical destination a record's dest names: SMTP for
// any server (journals before this recorded "smtp:host:port"), else the
// dest as it is (a Maildir folder, "maildir:PATH").
func Destination(dest string) string {
	if strings.HasPrefix(dest, SMTP+":") {
		return SMTP
	}
	return dest
}

// Outcome is the rejected recipient's outcome: refused at RCPT.
func (rej Rejection) Outcome() RcptOutcome {
	return RcptOutcome{Rcpt: rej.Rcpt, State: rej.Final(), Phase: smtp.PhaseRCPT, Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text}
}

// Missed lists the recipients r says did not get the letter for good:
// those refused for good at RCPT, and, when the letter failed or its
// fate is unknown, every other recipient of the attempt.
func (r Record) Missed() []RcptOutcome {
	var out []RcptOutcome
	refused := map[string]bool{}
	for _, rej := range r.Rejected {
		refused[strings.ToLower(rej.Rcpt)] = true
		if rej.Final() == Failed {
			out = append(out, rej.Outcome())
		}
	}
	if st := r.Final(); st == Failed || st == Unknown {
		for _, rcpt := range r.Rcpt {
			if !refused[strings.ToLower(rcpt)] {
				out = append(out, RcptOutcome{Rcpt: rcpt, State: st, Phase: r.Phase, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text})
			}
		}
	}
	return out
}

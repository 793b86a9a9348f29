package journal

import (
	"slices"
)

// State is a letter's state in a record.
type State string

// The states, in the order one attempt goes through them.
const (
	Attempt   State = "attempt"
	EOD       State = "eod"
	Delivered State = "delivered"
	Failed    State = "failed"
	Deferred  State = "deferred"
	Unknown   State = "unknown"
	// Invalid records a row that made no letter, skipped on request
	// (send --skip-invalid), under letter.InvalidKey; Text says why.
	Invalid State = "invalid"
	// Bounced and Delayed are what a delivery report (a bounce) said of
	// a recipient after the server took the letter (mailmerge bounces):
	// its mailbox refused the letter, for good, like Failed; or delivery
	// is late and still tried, which settles the letter as Delivered
	// does. Their records name the report (Record.Report).
	Bounced State = "bounced"
	Delayed State = "delayed"
	// Copying and Copied record a copy of a delivered letter saved in
	// the sender's Sent folder (Record.Copy): about to be saved, and
	// saved. They say nothing of the letter's delivery.
	Copying State = "copying"
	Copied  State = "copied"
)

// Due reports whether a send must send to the recipients of the letter
// it finds in state: delivered and failed ones are settled, and an
// unknown one is sent again only on request. A send and the check before
// it both go by this rule.
func Due(state State, resendUnknown bool) bool {
	switch state {
	case Delivered, Failed, Bounced, Delayed:
		return false
	case Unknown:
		return resendUnknown
	}
	return true
}

// Fold is what a letter comes to from the states of its recipients, for
// counts, exit codes and reports: the least settled of them, in the order
// deferred, not sent (Attempt; "" for a recipient without a record),
// failed or bounced, unknown, delayed, delivered. Only the recipients the row gave decide
// (own[i]); a letter has the template's own (an instructor's copy) decide
// only when it has no others.
func Fold(states []State, own []bool) State {
	anyOwn := slices.Contains(own, true)
	rank := map[State]int{Deferred: 6, Attempt: 5, "": 5, Failed: 4, Bounced: 4, Unknown: 3, Delayed: 2, Delivered: 1}
	folded, best := Delivered, 0
	for i, s := range states {
		if anyOwn && !own[i] {
			continue
		}
		if s == EOD {
			s = Unknown
		}
		if r := rank[s]; r > best {
			folded, best = s, r
		}
	}
	if folded == "" {
		return Attempt
	}
	return folded
}

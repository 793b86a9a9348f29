package bounce

import (
	"slices"
	"strings"
)

// Letter is a letter that was sent, as its mailing's journal knows it.
type Letter struct {
	Key       string // its identity as text: the ENVID it was sent with
	MessageID string // "<...>"
	Rcpt      []string
}

// Sent finds the letters of a mailing by what reports carry of them.
type Sent struct {
	byKey, byID map[string]*Letter
}

// NewSent returns an empty Sent.
func NewSent() *Sent {
	return &Sent{byKey: map[string]*Letter{}, byID: map[string]*Letter{}}
}

// Add makes l one of the letters reports are matched to: by the ENVID it
// was sent with (its Message-ID's local part, the key and, since
// mailings have secrets, the key's tag: a report must carry the tag to
// match) and by its Message-ID.
func (s *Sent) Add(l *Letter) {
	s.byKey[l.envID()] = l
	if l.MessageID != "" {
		s.byID[strings.ToLower(l.MessageID)] = l
	}
}

// AddID makes l also found by another Message-ID it was sent with, and
// the ENVID that went with it.
func (s *Sent) AddID(l *Letter, messageID string) {
	if messageID == "" {
		return
	}
	s.byID[strings.ToLower(messageID)] = l
	s.byKey[envIDOf(l.Key, messageID)] = l
}

// envID is the ENVID l was sent with, as the sender makes it.
func (l *Letter) envID() string { return envIDOf(l.Key, l.MessageID) }

func envIDOf(key, messageID string) string {
	local, _, _ := strings.Cut(strings.Trim(messageID, "<>"), "@")
	if strings.HasPrefix(local, key) {
		return local
	}
	return key
}

// Match is a recipient of a letter a report is about.
type Match struct {
	Letter *Letter
	Rcpt   string // the recipient, as the letter was sent to it
	Recipient
	// By says how the letter was found: "envid" (the ENVID the letter was
	// sent with) or "message-id" (its Message-ID in the returned headers).
	By string
}

// Match finds the letter rep is about and the recipients it reports on.
// Recipients of a standard report it cannot place are returned as
// unmatched; a report with neither is about no letter of the mailing.
func (s *Sent) Match(rep *Report) (matched []Match, unmatched []Recipient) {
	l, by := s.byKey[rep.EnvID], "envid"
	if l != nil && len(rep.Letters) > 0 && !slices.ContainsFunc(rep.Letters, func(id string) bool { return strings.EqualFold(id, l.MessageID) }) {
		l = nil // the letter it returns is another (a test send of it, say)
	}
	if l == nil || rep.EnvID == "" {
		l, by = nil, "message-id"
		for _, id := range rep.Letters {
			if l = s.byID[strings.ToLower(id)]; l != nil {
				break
			}
		}
	}
	if !rep.Standard {
		if l == nil {
			return nil, nil
		}
		for _, rcpt := range l.Rcpt {
			if r, ok := rep.Guess(rcpt); ok {
				matched = append(matched, Match{Letter: l, Rcpt: rcpt, Recipient: r, By: by})
			}
		}
		// A bounce that does not name the recipient in its own words
		// blames nobody: it may be a person's forward of the letter.
		return matched, nil
	}
	for _, r := range rep.Recipients {
		rcpt := ""
		if l != nil {
			rcpt = recipientOf(l, r)
		}
		if rcpt == "" {
			unmatched = append(unmatched, r)
			continue
		}
		matched = append(matched, Match{Letter: l, Rcpt: rcpt, Recipient: r, By: by})
	}
	return matched, unmatched
}

// recipientOf finds which of l's recipients r is: by the address the
// letter was sent to (ORCPT), by the address tried, or, when the report
// does not say the address sent to, as the one recipient of a letter to
// one (it was forwarded).
func recipientOf(l *Letter, r Recipient) string {
	for _, addr := range []string{r.Original, r.Final} {
		for _, rcpt := range l.Rcpt {
			if addr != "" && strings.EqualFold(addr, rcpt) {
				return rcpt
			}
		}
	}
	if len(l.Rcpt) == 1 && r.Original == "" {
		return l.Rcpt[0]
	}
	return ""
}

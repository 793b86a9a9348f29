package smtp

import "strings"

// Explain says in plain words what a server's reply means for a letter:
// a reply about the sending account, not the letter, as Recognize knows
// it (a quota reached, a login refused); else from its enhanced status
// code (RFC 3463, "5.1.1") when it has one, else from the basic reply
// code (RFC 5321 §4.2). phase is where the reply came (RCPT, DATA, ...),
// text the server's text. It returns "" when the reply says nothing it
// knows; the server's own text is the caller's to add.
func Explain(phase string, code int, enhanced, text string) string {
	if k := Recognize(code, enhanced, text); k.Account != Ordinary {
		return k.Advice()
	}
	if enhanced != "" {
		if s, ok := enhancedWords[enhanced]; ok {
			return s
		}
		if _, sd, ok := strings.Cut(enhanced, "."); ok {
			if s, ok := subjectWords[sd]; ok {
				return s
			}
		}
	}
	switch {
	case code == 421:
		return "the server closed the connection (busy, or limiting how much it takes)"
	case code == 450 || code == 451:
		return "the server could not take it for now"
	case code == 452:
		return "the server is out of room for now, or takes fewer recipients at once"
	case code == 550 && phase == PhaseRCPT:
		return "the server refused this address (no such mailbox, or not allowed)"
	case code == 552:
		return "the letter is too big, or the mailbox is full"
	case code == 554 && phase == PhaseEOD:
		return "the server refused the letter (often taken for spam)"
	case code >= 400 && code < 500:
		return "the server refused it for now"
	case code >= 500 && code < 600:
		return "the server refused it for good"
	}
	return ""
}

// enhancedWords are full codes whose meaning depends on the class.
var enhancedWords = map[string]string{
	"4.7.0": "the server asks to try later (greylisting or a limit)",
	"4.7.1": "the server asks to try later (greylisting or a limit)",
	"5.7.1": "refused by the server's rules: not allowed to send there, or taken for spam",
}

// subjectWords are subject.detail codes (RFC 3463 §3), whatever the class.
var subjectWords = map[string]string{
	"1.0":  "something is wrong with the address",
	"1.1":  "the address does not exist (no such mailbox)",
	"1.2":  "the domain of the address does not exist or takes no mail",
	"1.3":  "the address is not written correctly",
	"1.6":  "the mailbox has moved",
	"1.10": "the domain takes no mail",
	"2.0":  "something is wrong with the mailbox",
	"2.1":  "the mailbox is disabled",
	"2.2":  "the mailbox is full",
	"2.3":  "the letter is bigger than this mailbox takes",
	"3.0":  "the receiving mail system has a problem",
	"3.1":  "the receiving mail system is out of room",
	"3.4":  "the letter is too big for the server",
	"4.0":  "a network or routing problem between mail servers",
	"4.1":  "the receiving server did not answer",
	"4.2":  "the connection to the receiving server broke",
	"4.3":  "the server could not look up where to deliver (DNS)",
	"4.4":  "the server found no way to deliver there",
	"4.7":  "delivery took too long and was given up",
	"5.0":  "the servers did not understand each other",
	"5.3":  "too many recipients in one letter",
	"6.0":  "the letter's content was not accepted",
	"7.0":  "refused for security or policy reasons",
	"7.1":  "not allowed: the server refuses letters from this sender there",
	"7.8":  "the login was refused",
	"7.9":  "the login method is not strong enough",
	"7.23": "the sender's domain failed a check (SPF)",
	"7.25": "the sending server has no proper name (reverse DNS)",
	"7.26": "the sender's domain failed authentication checks (SPF, DKIM or DMARC)",
	"7.27": "the sender's domain publishes no mail servers",
}

package smtp

import "testing"

func TestExplain(t *testing.T) {
	tests := []struct {
		phase    string
		code     int
		enhanced string
		text     string
		want     string
	}{
		{PhaseRCPT, 550, "5.1.1", "text", "the address does not exist (no such mailbox)"},
		{PhaseRCPT, 452, "4.2.2", "text", "the mailbox is full"},
		{PhaseRCPT, 552, "5.2.2", "text", "the mailbox is full"},
		{PhaseEOD, 554, "5.7.1", "text", "refused by the server's rules: not allowed to send there, or taken for spam"},
		{PhaseRCPT, 450, "4.7.1", "text", "the server asks to try later (greylisting or a limit)"},
		{PhaseEOD, 550, "5.7.26", "text", "the sender's domain failed authentication checks (SPF, DKIM or DMARC)"},
		{PhaseEOD, 552, "5.3.4", "text", "the letter is too big for the server"},
		{PhaseRCPT, 550, "", "text", "the server refused this address (no such mailbox, or not allowed)"},
		{PhaseEOD, 554, "", "text", "the server refused the letter (often taken for spam)"},
		{PhaseMAIL, 421, "", "text", "the server closed the connection (busy, or limiting how much it takes)"},
		{PhaseDATA, 451, "", "text", "the server could not take it for now"},
		{PhaseRCPT, 599, "5.9.9", "text", "the server refused it for good"}, // unknown subject: the class says
		{PhaseRCPT, 0, "", "text", ""},
		// A reply about the account says so, whatever its codes say of
		// the letter.
		{PhaseEOD, 554, "5.2.0", "STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "the account's sending limit is reached (Microsoft 365 counts the recipients of the last 24 hours): run send again tomorrow; the letters not sent are kept for it"},
	}
	for _, tt := range tests {
		if got := Explain(tt.phase, tt.code, tt.enhanced, tt.text); got != tt.want {
			t.Errorf("Explain(%s, %d, %q, %q) = %q, want %q", tt.phase, tt.code, tt.enhanced, tt.text, got, tt.want)
		}
	}
}

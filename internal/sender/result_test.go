package sender

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

func TestClassify(t *testing.T) {
	se := func(code int, enh ...int) error {
		e := &smtp.Reply{Code: code, Text: "text"}
		if len(enh) == 3 {
			e.Enhanced = fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
		}
		return e
	}
	tests := []struct {
		phase     string
		err       error
		verdict   Verdict
		reconnect bool
		policy    bool
	}{
		{smtp.PhaseEOD, nil, Delivered, false, false},
		{smtp.PhaseMAIL, se(421, 4, 3, 2), Temporary, true, false},
		{smtp.PhaseRCPT, se(450, 4, 2, 1), Temporary, false, false},
		{smtp.PhaseRCPT, se(451), Temporary, false, false},
		{smtp.PhaseRCPT, se(452, 4, 5, 3), Temporary, false, false},
		{smtp.PhaseRCPT, se(552, 5, 5, 3), Temporary, false, false},
		{smtp.PhaseEOD, se(552, 5, 3, 4), Failed, false, false},
		{smtp.PhaseEOD, se(552, 5, 2, 2), Temporary, false, false},
		{smtp.PhaseRCPT, se(550, 5, 1, 1), Failed, false, false},
		{smtp.PhaseRCPT, se(553, 5, 1, 3), Failed, false, false},
		{smtp.PhaseEOD, se(554, 5, 6, 0), Failed, false, false},
		{smtp.PhaseRCPT, se(550, 5, 7, 1), Failed, false, true},
		{smtp.PhaseMAIL, se(550, 5, 4, 5), Temporary, false, true},
		{smtp.PhaseRCPT, io.EOF, Temporary, true, false},
		{smtp.PhaseBody, os.ErrDeadlineExceeded, Temporary, true, false},
		{smtp.PhaseEOD, io.EOF, Unknown, true, false},
		{smtp.PhaseEOD, os.ErrDeadlineExceeded, Unknown, true, false},
	}
	for _, tt := range tests {
		r := Classify(tt.phase, tt.err)
		if r.Verdict != tt.verdict || r.Reconnect != tt.reconnect || r.policy() != tt.policy {
			t.Errorf("Classify(%s, %v) = %v reconnect %v policy %v; want %v %v %v", tt.phase, tt.err, r.Verdict, r.Reconnect, r.policy(), tt.verdict, tt.reconnect, tt.policy)
		}
	}
	if r := Classify(smtp.PhaseRCPT, se(550, 5, 1, 1)); r.Code != 550 || r.Enhanced != "5.1.1" || r.Text != "text" {
		t.Errorf("fields: %+v", r)
	}
}

func TestNewLimiter(t *testing.T) {
	if NewLimiter(0, 0) != nil {
		t.Error("an unlimited rate has a limiter")
	}
	if l, ok := NewLimiter(120, time.Minute).(*rate.Limiter); !ok || l.Limit() != 2 {
		t.Errorf("120/min: limiter %v", l)
	}
}

func TestStats(t *testing.T) {
	st := Stats{Delivered: 3, Failed: 1, Deferred: 2, Unknown: 1, Untouched: 4, Letters: 17,
		Skipped: map[journal.State]int{journal.Delivered: 4, journal.Failed: 1, journal.Unknown: 1}}
	if st.Sent() != 7 || st.Done() != 13 || st.Final() != 9 || st.Refused() != 2 {
		t.Errorf("sent %d, done %d, final %d, refused %d", st.Sent(), st.Done(), st.Final(), st.Refused())
	}
	c := st.copy()
	c.Skipped[journal.Delivered]++
	if st.Skipped[journal.Delivered] != 4 {
		t.Error("a copy shares its map")
	}
}

package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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

// TestAccountReplies: a provider's reply about the sending account is
// never the letter's failure, whatever its code: the letter is deferred,
// and the dispatcher stops at once for a quota or a refused login, and
// says what to do. (The texts, and where each was seen:
// internal/smtp/known_test.go.)
func TestAccountReplies(t *testing.T) {
	tests := []struct {
		phase     string
		reply     smtp.Reply
		account   smtp.Account
		reconnect bool
		stop      RunErrorKind // 0: dispatching goes on
		hint      string
	}{
		{smtp.PhaseEOD, smtp.Reply{Code: 554, Enhanced: "5.2.0", Text: "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."},
			smtp.DailyQuota, false, ErrQuota, "tomorrow"},
		{smtp.PhaseMAIL, smtp.Reply{Code: 554, Enhanced: "5.2.0", Text: "STOREDRV.Submission.Exception:SubmissionQuotaExceededException"},
			smtp.DailyQuota, false, ErrQuota, "tomorrow"},
		{smtp.PhaseEOD, smtp.Reply{Code: 550, Enhanced: "5.4.5", Text: "Daily user sending limit exceeded. For more information on Gmail sending limits go to  https://support.google.com/a/answer/166852 d2e1a72fcca58-76e7d551493sm9728466b3a.112 - gsmtp"},
			smtp.DailyQuota, false, ErrQuota, "tomorrow"},
		{smtp.PhaseMAIL, smtp.Reply{Code: 421, Enhanced: "4.7.0", Text: "Try again later, closing connection. (MAIL) d75a77b69052e-4535f85b3d9sm7257481cf.29 - gsmtp"},
			smtp.RateLimit, true, ErrQuota, "in an hour"},
		{smtp.PhaseEOD, smtp.Reply{Code: 451, Text: "Ratelimit exceeded for mailbox sender@mail.ru. Try again later."},
			smtp.RateLimit, false, ErrQuota, "in an hour"},
		{smtp.PhaseEOD, smtp.Reply{Code: 451, Enhanced: "4.7.1", Text: `Ratelimit "user" exceeded`},
			smtp.RateLimit, false, ErrQuota, "in an hour"},
		{smtp.PhaseEOD, smtp.Reply{Code: 432, Enhanced: "4.3.2", Text: "STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471.namprd08.prod.outlook.com]"},
			smtp.TooManySessions, true, 0, ""},
		{smtp.PhaseMAIL, smtp.Reply{Code: 550, Enhanced: "5.7.30", Text: "Basic authentication is not supported for Client Submission."},
			smtp.LoginRefused, false, ErrAuth, "mailmerge login"},
		{smtp.PhaseMAIL, smtp.Reply{Code: 530, Enhanced: "5.7.57", Text: "Client not authenticated to send mail."},
			smtp.LoginRefused, false, ErrAuth, "smtp.username"},
	}
	for _, tt := range tests {
		r := Classify(tt.phase, &tt.reply)
		if r.Verdict != Temporary || r.Known.Account != tt.account || r.Reconnect != tt.reconnect {
			t.Errorf("Classify(%s, %v) = %v, account %d, reconnect %v; want temporary, %d, %v", tt.phase, &tt.reply, r.Verdict, r.Known.Account, r.Reconnect, tt.account, tt.reconnect)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		ln := newLane(Account{Transport: &Maildir{Path: t.TempDir()}})
		d := &dispatcher{p: &Pool{PolicyStop: 5, Log: slog.New(slog.DiscardHandler)}, lanes: []*lane{ln}, workers: 1, dispatch: ctx, stopDispatch: cancel}
		d.heed(ln, r)
		var re *RunError
		switch cause := context.Cause(ctx); {
		case tt.stop == 0 && cause != nil:
			t.Errorf("%v: dispatching stopped: %v", &tt.reply, cause)
		case tt.stop != 0 && (!errors.As(cause, &re) || re.Kind != tt.stop || !strings.Contains(re.Hint, tt.hint) || re.Code != tt.reply.Code):
			t.Errorf("%v: stopped with %v (%+v); want kind %d, %q", &tt.reply, cause, re, tt.stop, tt.hint)
		}
		cancel(nil)
	}
}

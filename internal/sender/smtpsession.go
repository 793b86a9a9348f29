package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// idleLimit is how long a session may rest before its next letter asks
// the server, with NOOP, whether it is still there: servers drop idle
// sessions, and a letter must not fail for it after a long rate-limit
// pause.
var idleLimit = time.Minute

// smtpSession is one SMTP connection, used for letter after letter.
type smtpSession struct {
	client *smtp.Client
	conn   net.Conn
	utf8   bool
	dsn    *smtp.DSN
	dirty  bool // a transaction failed: RSET before the next MAIL
	last   time.Time
	// ahead is the transaction made for the letter the worker said it
	// sends next (Tx.Next), and aheadFor that letter: the client may have
	// sent its envelope early already, and knows it by this transaction.
	ahead    *smtp.Mail
	aheadFor *letter.Letter
}

// TakesNext reports whether the server pipelines and the letters go with
// DATA, so that a letter's envelope can go with the end of the one
// before.
func (s *smtpSession) TakesNext() bool { return s.client.TakesNext() }

// Alive reports whether the session can take a letter: one idle for
// longer than idleLimit is asked with NOOP. One whose next transaction
// went early is in use.
func (s *smtpSession) Alive() bool {
	if s.client.Early() != nil || time.Since(s.last) < idleLimit {
		return true
	}
	s.last = time.Now()
	return s.client.Noop() == nil
}

// Send runs one mail transaction, with tx.Next's envelope at its end
// where the server pipelines. beforeEOD is called at the point of no
// return (before the final dot, or BDAT LAST): it records that point
// durably, and if it fails the end is never sent.
func (s *smtpSession) Send(ctx context.Context, tx Tx, beforeEOD func([]journal.Rejection) error) Result {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	defer func() { s.last = time.Now() }()
	// A transaction whose envelope went early began after the one before
	// had ended: there is nothing to reset.
	if s.dirty && s.client.Early() == nil {
		if err := s.client.Reset(); err != nil {
			r := Classify(smtp.PhaseRSET, err)
			r.Verdict, r.Reconnect = Temporary, true
			return r
		}
	}
	s.dirty = false
	l := tx.Letter
	if r := s.unsendable(l, tx.Data); r != nil {
		return *r
	}
	m := s.mailOf(l, tx.Data)
	m.Quit = tx.Last
	r := s.transaction(l, m, s.aheadOf(tx), beforeEOD)
	if r.Verdict != Delivered {
		s.dirty = true
	}
	return r
}

// unsendable is the failure of a letter this server cannot take, found
// before anything of it is sent.
func (s *smtpSession) unsendable(l *letter.Letter, data []byte) *Result {
	if l.SMTPUTF8 && !s.utf8 {
		return &Result{Verdict: Failed, Phase: smtp.PhaseMAIL, Text: "an address is not ASCII and the server does not offer SMTPUTF8"}
	}
	if max := s.client.MaxSize(); max > 0 && int64(len(data)) > max {
		return &Result{Verdict: Failed, Phase: smtp.PhaseMAIL, Text: fmt.Sprintf("the letter is %d bytes, more than the %d the server takes (SIZE); nothing was sent", len(data), max)}
	}
	return nil
}

// mailOf is the transaction of letter l: the one made when l was the
// letter to send next (aheadOf), whose envelope may have gone early, or
// a new one. Were the worker to send another letter than it said, the
// client would drop the connection rather than write into the message
// the server waits for.
func (s *smtpSession) mailOf(l *letter.Letter, data []byte) *smtp.Mail {
	if s.aheadFor == l {
		return s.ahead
	}
	return s.mail(l, data)
}

// mail is the transaction of letter l, written out as data.
func (s *smtpSession) mail(l *letter.Letter, data []byte) *smtp.Mail {
	m := &smtp.Mail{From: l.From, To: l.Recipients, Data: data, UTF8: l.SMTPUTF8}
	if s.dsn != nil {
		m.EnvID, m.Ret, m.Notify = envID(l), s.dsn.Ret, s.dsn.Notify
	}
	return m
}

// aheadOf is the transaction of the letter to send after tx (Tx.Next),
// for the client to send its envelope early, if there is one and the
// server can take it; nil otherwise.
func (s *smtpSession) aheadOf(tx Tx) *smtp.Mail {
	s.ahead, s.aheadFor = nil, nil
	if tx.Next == nil || tx.Last || s.unsendable(tx.Next.Letter, tx.Next.Data) != nil {
		return nil
	}
	s.ahead, s.aheadFor = s.mail(tx.Next.Letter, tx.Next.Data), tx.Next.Letter
	return s.ahead
}

func (s *smtpSession) transaction(l *letter.Letter, m, next *smtp.Mail, beforeEOD func([]journal.Rejection) error) Result {
	sent, err := s.client.Send(m, next, func(sent *smtp.Sent) error { return beforeEOD(rejections(l, sent)) })
	// Each recipient the server refuses keeps its own outcome; the others
	// share the transaction's.
	rejected := rejections(l, sent)
	done := func(r Result) Result {
		r.Rejected = rejected
		if r.Known.Account == smtp.Ordinary {
			r.Known = knownOf(sent.Rcpt) // a recipient refused for the account's sake
		}
		return r
	}
	var ioe *smtp.IOError
	switch {
	case errors.Is(err, journal.ErrTaken):
		return Result{Verdict: Temporary, Phase: smtp.PhaseBody, Reconnect: true, Text: "not sent: " + err.Error(), Taken: true}
	case errors.Is(err, smtp.ErrAborted):
		return Result{Verdict: Temporary, Phase: smtp.PhaseBody, Reconnect: true, Text: "not sent: " + err.Error(),
			Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}
	case errors.As(err, &ioe) && ioe.Phase != smtp.PhaseEOD && sent.Mail != nil && sent.Mail.Code/100 != 2:
		// MAIL refused, then the connection closed (a 421): the refusal
		// says why.
		r := Classify(smtp.PhaseMAIL, sent.Mail)
		r.Reconnect = true
		return r
	case errors.As(err, &ioe):
		return done(Classify(ioe.Phase, ioe.Err))
	case err != nil:
		return done(Classify(smtp.PhaseMAIL, err))
	case sent.Mail.Code/100 != 2:
		return Classify(smtp.PhaseMAIL, sent.Mail)
	}
	for _, r := range sent.Rcpt {
		if r.Code == 421 {
			return done(Classify(smtp.PhaseRCPT, r))
		}
	}
	if len(sent.Accepted()) == 0 {
		// Nobody accepted: the transaction's outcome is the mildest
		// refusal; each recipient keeps its own.
		var mildest Result
		for i, r := range sent.Rcpt {
			c := Classify(smtp.PhaseRCPT, r)
			if i == 0 || c.Verdict == Temporary {
				mildest = c
			}
		}
		return done(mildest)
	}
	if !sent.Chunked && (sent.Data == nil || sent.Data.Code != 354) {
		return done(Classify(smtp.PhaseDATA, sent.Data))
	}
	if sent.End.Code/100 != 2 {
		return done(Classify(smtp.PhaseEOD, sent.End))
	}
	return done(Result{Verdict: Delivered, Phase: smtp.PhaseEOD, Code: sent.End.Code, Enhanced: sent.End.Enhanced, Text: sent.End.Text})
}

// knownOf is what the first refusal among replies that smtp.Recognize
// knows says of the account; Ordinary when none.
func knownOf(replies []*smtp.Reply) smtp.Known {
	for _, r := range replies {
		if r == nil || r.Code/100 == 2 {
			continue
		}
		if k := smtp.Recognize(r.Code, r.Enhanced, r.Text); k.Account != smtp.Ordinary {
			return k
		}
	}
	return smtp.Known{}
}

// rejections are the recipients the server refused so far, each with its
// own state.
func rejections(l *letter.Letter, sent *smtp.Sent) []journal.Rejection {
	var out []journal.Rejection
	for i, r := range sent.Rcpt {
		if r == nil || r.Code/100 == 2 {
			continue
		}
		c := Classify(smtp.PhaseRCPT, r)
		state := journal.Failed
		if c.Verdict == Temporary {
			state = journal.Deferred
		}
		out = append(out, journal.Rejection{Rcpt: l.Recipients[i], State: state, Code: c.Code, Enhanced: c.Enhanced, Text: c.Text})
	}
	return out
}

// envID is the name a delivery report gives the letter (ENVID): its
// Message-ID's local part, which is the letter's key, and for a test send
// (send --redirect-to) the key and ".test": a report about a test send
// is never taken for one about the letter.
func envID(l *letter.Letter) string {
	key := l.Key.String()
	local, _, _ := strings.Cut(strings.Trim(l.MessageID, "<>"), "@")
	if strings.HasPrefix(local, key) {
		return local
	}
	return key
}

// Abort drops the connection without QUIT.
func (s *smtpSession) Abort() { s.client.Close() }

// Close ends the session politely.
func (s *smtpSession) Close() error {
	err := s.client.Quit()
	s.client.Close()
	return err
}

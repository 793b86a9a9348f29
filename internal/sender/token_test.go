package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// tokens is a token source for tests: it hands out tokens in turn,
// renewing only when the one refused is the current one.
type tokens struct {
	mu     sync.Mutex
	list   []string
	i      int
	renews int
	err    error // the renewal fails so (a revoked login)
}

func (s *tokens) token(_ context.Context, refused string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused != "" && refused == s.list[s.i] {
		if s.err != nil {
			return "", s.err
		}
		s.renews++
		s.i = min(s.i+1, len(s.list)-1)
	}
	return s.list[s.i], nil
}

// TestAuthToken: an OAuth2 login with XOAUTH2 or OAUTHBEARER; a token
// the server refuses is renewed once, by one session for all; a second
// refusal, or a renewal that fails, ends the run before any letter; the
// token never reaches the trace.
func TestAuthToken(t *testing.T) {
	serverTLS, pool := testCA(t)
	revoked := errors.New("your login has expired or was revoked; run mailmerge login")
	tests := []struct {
		name      string
		mechs     []string
		list      []string
		renewErr  error
		kind      RunErrorKind
		text      string
		delivered int
		renews    int
	}{
		{name: "XOAUTH2", mechs: []string{"PLAIN", "XOAUTH2"}, list: []string{"eyJ.good-token"}, delivered: 6},
		{name: "OAUTHBEARER", mechs: []string{sasl.OAuthBearer}, list: []string{"eyJ.good-token"}, delivered: 6},
		{name: "expired, renewed once", mechs: []string{"XOAUTH2"}, list: []string{"eyJ.old-token", "eyJ.good-token"}, delivered: 6, renews: 1},
		{name: "OAUTHBEARER expired, renewed once", mechs: []string{sasl.OAuthBearer}, list: []string{"eyJ.old-token", "eyJ.good-token"}, delivered: 6, renews: 1},
		{name: "refused after renewal", mechs: []string{"XOAUTH2"}, list: []string{"eyJ.old-token", "eyJ.other-token"}, kind: ErrAuth, text: "535", renews: 1},
		{name: "renewal refused", mechs: []string{"XOAUTH2"}, list: []string{"eyJ.old-token"}, renewErr: revoked, kind: ErrAuth, text: "run mailmerge login"},
		{name: "no OAuth2 offered", mechs: []string{"PLAIN"}, list: []string{"eyJ.good-token"}, kind: ErrAuth, text: "offers no OAuth2 login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: "dept@univ.example", pass: "-", token: "eyJ.good-token", mechs: tt.mechs}
			port := startServer(t, be, serverTLS)
			src := &tokens{list: tt.list, err: tt.renewErr}
			var trace bytes.Buffer
			tr := smtpTransport(port)
			tr.Security, tr.Username, tr.Token = smtp.StartTLS, "dept@univ.example", src.token
			tr.TLSConfig = &tls.Config{ServerName: "localhost", RootCAs: pool}
			tr.Trace = NewTrace(&lockedBuffer{b: &trace})
			st, _, err := runPool(t, tr, letters(6), func(p *Pool) { p.Concurrency = 3; p.PerSession = 2 })
			var re *RunError
			switch {
			case tt.kind == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.kind != 0 && (!errors.As(err, &re) || re.Kind != tt.kind || !strings.Contains(re.Error(), tt.text)):
				t.Fatalf("err = %v, want kind %d saying %q", err, tt.kind, tt.text)
			}
			if st.Delivered != tt.delivered || src.renews != tt.renews {
				t.Errorf("delivered %d, renewals %d; want %d, %d", st.Delivered, src.renews, tt.delivered, tt.renews)
			}
			for _, token := range tt.list {
				if strings.Contains(trace.String(), token) || strings.Contains(trace.String(), strings.TrimPrefix(token, "eyJ.")) {
					t.Errorf("trace contains the token %q:\n%s", token, trace.String())
				}
			}
		})
	}
}

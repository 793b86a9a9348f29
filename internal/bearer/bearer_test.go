package bearer

import (
	"errors"
	"testing"
)

func TestChoose(t *testing.T) {
	for _, tt := range []struct {
		offered []string
		want    string
	}{
		{[]string{"LOGIN", "PLAIN", "XOAUTH2"}, XOAuth2},
		{[]string{"OAUTHBEARER", "xoauth2"}, XOAuth2},
		{[]string{"PLAIN", "OAUTHBEARER"}, OAuthBearer},
		{[]string{"PLAIN", "LOGIN"}, ""},
		{nil, ""},
	} {
		if got := Choose(tt.offered); got != tt.want {
			t.Errorf("Choose(%q) = %q, want %q", tt.offered, got, tt.want)
		}
	}
}

// TestXOAuth2: the initial response is Google's and Microsoft's format;
// an error challenge is answered with an empty line, once.
func TestXOAuth2(t *testing.T) {
	c := NewClient(XOAuth2, "dept@univ.example", "ya29.token", "smtp.gmail.com", 587)
	mech, ir, err := c.Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=dept@univ.example\x01auth=Bearer ya29.token\x01\x01" {
		t.Fatalf("Start = %q, %q, %v", mech, ir, err)
	}
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	if err != nil || len(resp) != 0 {
		t.Errorf("Next(error) = %q, %v; want an empty answer", resp, err)
	}
	_, err = c.Next([]byte("again"))
	var e *Error
	if !errors.As(err, &e) || e.Status != "401" {
		t.Errorf("second challenge: %v", err)
	}
}

// TestOAuthBearer: RFC 7628 §3.1's initial response, and §3.2.3's ^A
// answer to an error challenge.
func TestOAuthBearer(t *testing.T) {
	c := NewClient(OAuthBearer, "user@example.com", "vF9dft4qmT", "server.example.com", 143)
	mech, ir, err := c.Start()
	want := "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmT\x01\x01"
	if err != nil || mech != "OAUTHBEARER" || string(ir) != want {
		t.Fatalf("Start = %q, %q, %v", mech, ir, err)
	}
	resp, err := c.Next([]byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`))
	if err != nil || string(resp) != "\x01" {
		t.Errorf("Next(error) = %q, %v; want ^A", resp, err)
	}
	if _, err := c.Next(nil); err == nil {
		t.Error("a second challenge was answered")
	}
}

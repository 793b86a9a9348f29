package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func valid() Config {
	c := Config{File: "/m/mailing.yaml", Template: "letter.txt", Recipients: Recipients{File: "people.csv", Encoding: "auto", Delimiter: "auto"}}
	c.SMTP = SMTP{Host: "smtp.example.com", Port: 587, DialTimeout: time.Second, Timeout: time.Second, DataTimeout: 10 * time.Minute}
	c.Send = Send{Concurrency: 4, MaxAttempts: 3, MessagesPerConnection: 100, RetryDelay: time.Second}
	return c
}

func TestResolve(t *testing.T) {
	c := valid()
	c.SMTP.Port = 465
	c.Resolve()
	if c.Template != "/m/letter.txt" || c.Recipients.File != "/m/people.csv" || c.AttachmentsDir != "/m" {
		t.Errorf("paths not relative to the config: %+v", c)
	}
	if c.Campaign != "mailing" || c.Send.Journal != "/m/mailing.journal" {
		t.Errorf("campaign %q, journal %q", c.Campaign, c.Send.Journal)
	}
	if c.SMTP.Security != TLS {
		t.Errorf("security for port 465 = %q", c.SMTP.Security)
	}
	c = valid()
	c.Template = "/abs/letter.txt"
	c.Resolve()
	if c.Template != "/abs/letter.txt" || c.SMTP.Security != StartTLS {
		t.Errorf("template %q security %q", c.Template, c.SMTP.Security)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		errs   []string
	}{
		{"valid", func(*Config) {}, nil},
		{"missing files", func(c *Config) { c.Template, c.Recipients.File = "", "" }, []string{
			"mailing.yaml: template: required: the letter template file",
			"mailing.yaml: recipients.file: required: the recipients CSV file",
		}},
		{"port", func(c *Config) { c.SMTP.Port = 0 }, []string{"mailing.yaml: smtp.port: must be between 1 and 65535, got 0"}},
		{"plain text to a remote host", func(c *Config) { c.SMTP.Security = None }, []string{
			"mailing.yaml: smtp.security: none sends mail (and passwords) in the clear; allowed only for a loopback host unless smtp.allow_insecure is true"}},
		{"plain text to loopback", func(c *Config) { c.SMTP.Security, c.SMTP.Host = None, "127.0.0.1" }, nil},
		{"plain text allowed", func(c *Config) { c.SMTP.Security, c.SMTP.AllowInsecure = None, true }, nil},
		{"no AUTH in plain text", func(c *Config) { c.SMTP.Security, c.SMTP.Host, c.SMTP.Username = None, "::1", "me" }, []string{
			"mailing.yaml: smtp.username: authentication needs an encrypted connection: set smtp.security to starttls or tls"}},
		{"short data timeout", func(c *Config) { c.SMTP.DataTimeout = time.Minute }, []string{
			"mailing.yaml: smtp.data_timeout: must be at least 10m (RFC 5321 §4.5.3.2.6): a shorter wait after the final dot makes duplicate letters, got 1m0s"}},
		{"send policy", func(c *Config) { c.Send.Concurrency, c.Send.Rate, c.Send.MaxAttempts = 0, "fast", 0 }, []string{
			"mailing.yaml: send.concurrency: must be between 1 and 100, got 0",
			`mailing.yaml: send.rate: want a rate like 10/s, 100/min or 1000/h, got "fast"`,
			"mailing.yaml: send.max_attempts: must be between 1 and 20, got 0",
		}},
		{"a value set by a flag names the flag", func(c *Config) {
			c.Send.Rate = "fast"
			c.Overrides = map[string]string{"send.rate": "--rate", "send.concurrency": "$MAILMERGE_SEND_CONCURRENCY"}
		}, []string{`--rate: send.rate: want a rate like 10/s, 100/min or 1000/h, got "fast"`}},
		{"two transports", func(c *Config) { c.Maildir.Path = "/m/out" }, []string{"mailing.yaml: maildir.path: set either smtp.host or maildir.path, not both"}},
		{"password file missing", func(c *Config) { c.SMTP.PasswordFile = "/nonexistent/pw" }, []string{
			"mailing.yaml: smtp.password_file: stat /nonexistent/pw: no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			c.Resolve()
			err := c.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				var ke *KeyError
				if !errors.As(err, &ke) {
					t.Errorf("not a *KeyError: %T", err)
				}
			}
			if !slices.Equal(got, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.errs)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := map[string]Rate{"": {}, "0": {}, "10/s": {10, time.Second}, "100/min": {100, time.Minute}, " 5 / h ": {5, time.Hour}}
	for in, want := range tests {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10", "-1/s", "x/s", "10/day", "1.5/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) succeeded", in)
		}
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, want := range []string{"template", "recipients.file", "smtp.host", "smtp.password_env", "smtp.data_timeout", "send.rate", "maildir.path"} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	if slices.Contains(keys, "file") || slices.Contains(keys, "smtp.password") {
		t.Errorf("Keys() = %q", keys)
	}
	if got := EnvName("smtp.password_env"); got != "MAILMERGE_SMTP_PASSWORD_ENV" {
		t.Errorf("EnvName = %q", got)
	}
	for k := range Defaults() {
		if !slices.Contains(keys, k) {
			t.Errorf("default for unknown key %q", k)
		}
	}
}

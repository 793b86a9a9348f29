package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"

	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

func valid() Config {
	c := Config{File: "/m/mailing.yaml", Template: "letter.txt", Recipients: Recipients{File: "people.csv", Encoding: recipients.Auto}}
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
	if c.SMTP.Security != smtp.TLS {
		t.Errorf("security for port 465 = %q", c.SMTP.Security)
	}
	c = valid()
	c.Template = "/abs/letter.txt"
	c.Resolve()
	if c.Template != "/abs/letter.txt" || c.SMTP.Security != smtp.StartTLS {
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
			"mailing.yaml: recipients.file: required: the recipients CSV file or spreadsheet",
		}},
		{"port", func(c *Config) { c.SMTP.Port = 0 }, []string{"mailing.yaml: smtp.port: must be between 1 and 65535, got 0"}},
		{"plain text to a remote host", func(c *Config) { c.SMTP.Security = smtp.Plain }, []string{
			"mailing.yaml: smtp.security: none sends mail (and passwords) in the clear; allowed only for a loopback host unless smtp.allow_insecure is true"}},
		{"plain text to loopback", func(c *Config) { c.SMTP.Security, c.SMTP.Host = smtp.Plain, "127.0.0.1" }, nil},
		{"plain text allowed", func(c *Config) { c.SMTP.Security, c.SMTP.AllowInsecure = smtp.Plain, true }, nil},
		{"no AUTH in plain text", func(c *Config) { c.SMTP.Security, c.SMTP.Host, c.SMTP.Username = smtp.Plain, "::1", "me" }, []string{
			"mailing.yaml: smtp.username: authentication needs an encrypted connection: set smtp.security to starttls or tls"}},
		{"short data timeout", func(c *Config) { c.SMTP.DataTimeout = time.Minute }, []string{
			"mailing.yaml: smtp.data_timeout: must be at least 10m (RFC 5321 §4.5.3.2.6): a shorter wait after the final dot makes duplicate letters, got 1m0s"}},
		{"send policy", func(c *Config) { c.Send.Concurrency, c.Send.MaxAttempts = 0, 0 }, []string{
			"mailing.yaml: send.concurrency: must be between 1 and 100, got 0",
			"mailing.yaml: send.max_attempts: must be between 1 and 20, got 0",
		}},
		{"a value set by a flag names the flag", func(c *Config) {
			c.Send.Concurrency = 0
			c.Overrides = map[string]string{"send.rate": "--rate", "send.concurrency": "--concurrency"}
		}, []string{`--concurrency: send.concurrency: must be between 1 and 100, got 0`}},
		{"two transports", func(c *Config) { c.Maildir.Path = "/m/out" }, []string{"mailing.yaml: maildir.path: set either smtp.host or maildir.path, not both"}},
		{"a port in the host", func(c *Config) { c.SMTP.Host = "smtp.example.com:25" }, []string{
			`mailing.yaml: smtp.host: must be a host name or address, without the port (it goes in smtp.port), got "smtp.example.com:25"`}},
		{"an IPv6 host", func(c *Config) { c.SMTP.Host = "::1" }, nil},
		{"a password in password_env", func(c *Config) { c.SMTP.PasswordEnv = "s3cret pw!" }, []string{
			"mailing.yaml: smtp.password_env: must be the name of an environment variable, like MAILMERGE_SMTP_PASSWORD (the value is not shown: it may be a password)"}},
		{"imap: a mailbox", func(c *Config) { c.IMAP = IMAP{Host: "imap.example.com", Port: 993, Security: "tls", Username: "me"} }, nil},
		{"imap: no clear text, no port in the host, a user", func(c *Config) { c.IMAP = IMAP{Host: "imap.example.com:993", Port: 993, Security: "none"} }, []string{
			`mailing.yaml: imap.security: must be tls (also called SSL) or starttls (IMAP carries a password: never in the clear), got "none"`,
			`mailing.yaml: imap.host: must be a host name or address (the port goes in imap.port), got "imap.example.com:993"`,
			"mailing.yaml: imap.username: required with imap.host: the mailbox to log in to"}},
		{"imap: copies need a folder and a server", func(c *Config) { c.IMAP = IMAP{SaveCopies: true, Port: 993} }, []string{
			"mailing.yaml: imap.save_copies: needs imap.sent_folder: the folder of your mailbox copies go to (often Sent)",
			"mailing.yaml: imap.host: required with imap.save_copies: the server that keeps the Sent folder"}},
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

// TestDecode: values are parsed into their types once, while the config
// is decoded, and every problem is a *KeyError, all at once, blamed on the
// flag or variable that set the value when one did.
func TestDecode(t *testing.T) {
	base := map[string]any{"template": "letter.txt", "recipients": map[string]any{"file": "people.csv"}}
	tests := []struct {
		name      string
		values    map[string]any
		overrides map[string]string
		errs      []string
	}{
		{"defaults", nil, nil, nil},
		{"typed values", map[string]any{"recipients": map[string]any{"file": "p.csv", "encoding": "CP1251", "delimiter": "tab"},
			"smtp": map[string]any{"security": "TLS", "timeout": "5s"}, "send": map[string]any{"rate": "100/min"}}, nil, nil},
		{"a rate of 0 given as a number", map[string]any{"send": map[string]any{"rate": 0}}, nil, nil},
		{"DSN", map[string]any{"send": map[string]any{"dsn": map[string]any{"notify": []any{"failure", "Delay"}, "ret": "headers"}}}, nil, nil},
		{"DSN notify as a variable gives it", map[string]any{"send": map[string]any{"dsn": map[string]any{"notify": "failure,delay"}}}, nil, nil},
		{"bad DSN", map[string]any{"send": map[string]any{"dsn": map[string]any{"notify": []any{"never", "failure"}, "ret": "body"}}}, nil, []string{
			"mailing.yaml: send.dsn.notify: never goes alone, got [never failure]",
			`mailing.yaml: send.dsn.ret: want headers or full, got "body"`,
		}},
		{"bad values", map[string]any{"recipients": map[string]any{"file": "p.csv", "encoding": "latin-9"},
			"smtp": map[string]any{"security": "ssl", "port": 70000}, "send": map[string]any{"rate": "fast", "concurrency": 0}}, nil, []string{
			`mailing.yaml: recipients.encoding: unknown encoding "latin-9" (want auto, utf-8, windows-1251, koi8-r or utf-16)`,
			`mailing.yaml: send.rate: want a rate like 10/s, 100/min or 1000/h, got "fast"`,
			`mailing.yaml: smtp.security: must be starttls, tls or none, got "ssl"`,
			"mailing.yaml: smtp.port: must be between 1 and 65535, got 70000",
			"mailing.yaml: send.concurrency: must be between 1 and 100, got 0",
		}},
		{"wrong types", map[string]any{"smtp": map[string]any{"port": "x", "timeout": "soon", "allow_insecure": "maybe"}}, nil, []string{
			"mailing.yaml: smtp.allow_insecure: want true or false",
			"mailing.yaml: smtp.port: want a whole number",
			"mailing.yaml: smtp.timeout: want a duration such as 30s or 10m",
		}},
		{"lists and sections where one value belongs", map[string]any{"smtp": map[string]any{"timeout": []any{1, 2}, "security": map[string]any{"a": 1}},
			"send": map[string]any{"rate": map[string]any{"n": 5, "per": 1}}}, nil, []string{
			"mailing.yaml: send.rate: want one value, not a list or a section",
			"mailing.yaml: smtp.security: want one value, not a list or a section",
			"mailing.yaml: smtp.timeout: want a duration such as 30s or 10m",
		}},
		{"a section given a value", map[string]any{"smtp": "mail.example.com"}, nil, []string{"mailing.yaml: smtp: want a section of keys"}},
		{"a test subject prefix of two lines", map[string]any{"send": map[string]any{"test_subject_prefix": "[TEST]\nBcc: x@example.com "}}, nil, []string{
			`mailing.yaml: send.test_subject_prefix: must be text of one line, at most 100 characters, got "[TEST]\nBcc: x@example.com "`,
		}},
		{"a value set by a flag names the flag", map[string]any{"send": map[string]any{"rate": "fast"}},
			map[string]string{"send.rate": "--rate"}, []string{`--rate: send.rate: want a rate like 10/s, 100/min or 1000/h, got "fast"`}},
		{"unknown keys", map[string]any{"recipient": 1, "smtp": map[string]any{"pasword": "x", "password": "y"}}, nil, []string{
			"mailing.yaml: recipient: unknown key; did you mean recipients?",
			"mailing.yaml: smtp.password: unknown key: passwords are not read from the config file; set MAILMERGE_SMTP_PASSWORD or smtp.password_file",
			"mailing.yaml: smtp.pasword: unknown key: passwords are not read from the config file; set MAILMERGE_SMTP_PASSWORD or smtp.password_file",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := maps.Clone(base)
			maps.Copy(values, tt.values)
			for k, v := range Defaults() {
				section, key, _ := strings.Cut(k, ".")
				m, isMap := values[section].(map[string]any)
				if values[section] != nil && !isMap {
					continue // the case under test gives the section a value
				}
				if m == nil {
					m = map[string]any{}
				}
				m = maps.Clone(m)
				if _, set := m[key]; !set {
					m[key] = v
				}
				values[section] = m
			}
			c, err := Decode("/m/mailing.yaml", tt.overrides, func(c *Config) error {
				d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: c, DecodeHook: DecodeHook(), ErrorUnused: true})
				if err != nil {
					return err
				}
				return d.Decode(values)
			})
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				slices.Sort(got)
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if _, ok := e.(*KeyError); !ok {
						t.Errorf("not a *KeyError: %T %v", e, e)
					}
				}
			}
			want := slices.Sorted(slices.Values(tt.errs))
			if !slices.Equal(got, want) {
				t.Errorf("errors:\n got %q\nwant %q", got, want)
			}
			if tt.name == "typed values" && (c.Recipients.Encoding != recipients.Windows1251 || c.Recipients.Delimiter != '\t' ||
				c.SMTP.Security != smtp.TLS || c.SMTP.Timeout != 5*time.Second || c.Send.Rate != (Rate{N: 100, Per: time.Minute})) {
				t.Errorf("decoded %+v", c)
			}
		})
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

// TestJournalByCampaign: the journal is named after the campaign, so
// every config naming it shares one; one named after the config file, as
// earlier versions made it, is used while the campaign's does not exist.
func TestJournalByCampaign(t *testing.T) {
	for campaign, want := range map[string]string{
		"course-2026":         "course-2026.journal",
		"Итоги 2026/осень":    "Итоги 2026_осень.journal",
		` a:b*c?"d"<e>|f\g. `: "a_b_c__d__e__f_g.journal",
		"...":                 "campaign.journal",
	} {
		if got := JournalName(campaign); got != want {
			t.Errorf("JournalName(%q) = %q, want %q", campaign, got, want)
		}
	}
	dir := t.TempDir()
	resolve := func(file, campaign string) string {
		c := Config{File: filepath.Join(dir, file), Campaign: campaign}
		c.Resolve()
		return filepath.Base(c.Send.Journal)
	}
	if got := resolve("mailmerge.yaml", "course"); got != "course.journal" {
		t.Errorf("journal %s", got)
	}
	if got := resolve("mailmerge (copy).yaml", "course"); got != "course.journal" {
		t.Errorf("a copy's journal %s", got)
	}
	os.WriteFile(filepath.Join(dir, "old.journal"), nil, 0o600)
	if got := resolve("old.yaml", "course"); got != "old.journal" {
		t.Errorf("an earlier version's journal not used: %s", got)
	}
	os.WriteFile(filepath.Join(dir, "course.journal"), nil, 0o600)
	if got := resolve("old.yaml", "course"); got != "course.journal" {
		t.Errorf("with both, the campaign's: %s", got)
	}
}

// TestExampleHasEveryKey: config.example.yaml documents every key.
func TestExampleHasEveryKey(t *testing.T) {
	path := filepath.Join("..", "..", "config.example.yaml")
	lines := keyLines(path)
	raw, _ := os.ReadFile(path)
	if len(lines) == 0 {
		t.Fatal("config.example.yaml: no keys read")
	}
	for _, k := range Keys() {
		if _, ok := lines[k]; ok {
			continue
		}
		// A section shown commented out (maildir, the other transport).
		section, leaf, _ := strings.Cut(k, ".")
		if regexp.MustCompile(`(?m)^# ` + section + `:$(\n#.*)*\n#\s+` + leaf + `:`).Match(raw) {
			continue
		}
		t.Errorf("config.example.yaml lacks %s", k)
	}
}

// TestPasswordNotEchoed: a password typed into password_env by mistake is
// not repeated in the error that says no password was found.
func TestPasswordNotEchoed(t *testing.T) {
	c := &Config{File: "mailing.yaml", SMTP: SMTP{Username: "me", PasswordEnv: "hunter2xyz"}}
	_, err := c.Password(nil)
	if err == nil || strings.Contains(err.Error(), "hunter2xyz") || !strings.Contains(err.Error(), "smtp.password_env: no password for me. password_env is the name of an environment variable") {
		t.Errorf("err = %v", err)
	}
	c.SMTP.PasswordEnv = "MY_SMTP_PW"
	if _, err := c.Password(nil); err == nil || !strings.Contains(err.Error(), "put it in the environment variable MY_SMTP_PW (") {
		t.Errorf("err = %v", err)
	}
}

// TestLooseSecrets: a password file others may read is warned of.
func TestLooseSecrets(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o644)
	c := &Config{File: "mailing.yaml", SMTP: SMTP{PasswordFile: pw}}
	if w := c.LooseSecrets(); len(w) != 1 || !strings.Contains(w[0].Error(), "smtp.password_file: "+pw+" can be read by other users of this machine (mode 0644): chmod 600") {
		t.Errorf("warnings %v", w)
	}
	os.Chmod(pw, 0o600)
	if w := c.LooseSecrets(); len(w) != 0 {
		t.Errorf("a private file: %v", w)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"MAILMERGE_SMTP_PROT=25", "MAILMERGE_SMTP_PORT=25", "MAILMERGE_CONFIG=x", "HOME=/root", "MAILMERGE_WHATEVER=1",
		"MAILMERGE_SMTP_HOTS=x", "mailmerge_smtp_host=x", "Mailmerge_Config=x", "mailmerge_recipient_file=x", "MAILMERGE_CONFG=m.yaml", "MAILMERGE_SEND_RAET="},
		func(name string) bool { return name == "MAILMERGE_CONFIG" })
	want := []string{
		"$MAILMERGE_CONFG is not a setting, and is ignored; did you mean $MAILMERGE_CONFIG?",
		"$MAILMERGE_SMTP_HOTS is not a setting, and is ignored; did you mean $MAILMERGE_SMTP_HOST?",
		"$MAILMERGE_SMTP_PROT is not a setting, and is ignored; did you mean $MAILMERGE_SMTP_PORT?",
		"$MAILMERGE_WHATEVER is not a setting, and is ignored",
	}
	if runtime.GOOS != "windows" { // where names are not case-sensitive, lower case sets the key
		want = append(want,
			"$Mailmerge_Config is not a setting, and is ignored; did you mean $MAILMERGE_CONFIG? (the names are in capitals)",
			"$mailmerge_recipient_file is not a setting, and is ignored; did you mean $MAILMERGE_RECIPIENTS_FILE?",
			"$mailmerge_smtp_host is not a setting, and is ignored; did you mean $MAILMERGE_SMTP_HOST? (the names are in capitals)")
	}
	if !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %q, want %q", got, want)
	}
}

func TestDSNSender(t *testing.T) {
	if d := (DSN{}).Sender(); d != nil {
		t.Errorf("no DSN asked: %+v", d)
	}
	d := DSN{Notify: []string{"failure", " Delay"}, Ret: "headers"}.Sender()
	if !slices.Equal(d.Notify, []string{"FAILURE", "DELAY"}) || d.Ret != "HDRS" {
		t.Errorf("Sender() = %+v", d)
	}
}

// A user is told how to set the password's variable in the shells of
// their own system.
func TestSetEnv(t *testing.T) {
	for goos, want := range map[string]string{
		"linux":   `export MAILMERGE_SMTP_PASSWORD='...'`,
		"darwin":  `export MAILMERGE_SMTP_PASSWORD='...'`,
		"windows": `in cmd: set MAILMERGE_SMTP_PASSWORD=..., in PowerShell: $env:MAILMERGE_SMTP_PASSWORD = "..."`,
	} {
		if got := setEnv("MAILMERGE_SMTP_PASSWORD", goos); got != want {
			t.Errorf("%s: %s, want %s", goos, got, want)
		}
	}
}

// TestUnknownKeyHint: a key close to another gets it in its error; the
// sections of keys close to none are listed in the hint, an account's
// with smtp:'s keys, which it takes too.
func TestUnknownKeyHint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	os.WriteFile(path, []byte("template: letter.txt\nrecipients:\n  file: people.csv\nsending: 1\nsmtp:\n  hots: x\naccounts:\n  - name: work\n    hots: smtp.example.com\n    usernme: x\n    colour: 1\nsend:\n  rat: 5/s\n  frobnicate: 1\n"), 0o644)
	_, _, err := Load(path, pflag.NewFlagSet("x", pflag.ContinueOnError), nil, func(string) bool { return false })
	for _, want := range []string{
		"m.yaml:6: smtp.hots: unknown key; did you mean host?",
		"m.yaml:9: accounts.0.hots: unknown key; did you mean host?",
		"m.yaml:10: accounts.0.usernme: unknown key; did you mean username?",
		"m.yaml:13: send.rat: unknown key; did you mean rate?",
		"m.yaml:4: sending: unknown key\n",
	} {
		if err == nil || !strings.Contains(err.Error()+"\n", want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	hint := strings.Split(Hint(err), "\n")
	if len(hint) != 3 || !strings.HasPrefix(hint[0], "keys at the top level: campaign, template, ") ||
		!strings.HasPrefix(hint[1], "keys of an account (accounts:): name, provider, ") || !strings.Contains(hint[1], ", host, port, ") || !strings.HasSuffix(hint[1], ", weight") ||
		!strings.HasPrefix(hint[2], "keys of send: concurrency, rate, ") {
		t.Errorf("hint:\n%s", Hint(err))
	}
	for _, k := range Keys() {
		if section, name, ok := strings.Cut(k, "."); ok && !strings.Contains(name, ".") && !slices.Contains(sectionKeys(section), name) {
			t.Errorf("sectionKeys(%q) lacks %s", section, name)
		}
	}
}

// TestNamedSecretEnv: a MAILMERGE_ variable the config names for a
// password (the README's send.journal_password_env: MAILMERGE_DB_PASSWORD,
// an account's) is no typo, and is not warned of; an unnamed one is.
func TestNamedSecretEnv(t *testing.T) {
	t.Setenv("MAILMERGE_DB_PASSWORD", "s3cret")
	t.Setenv("MAILMERGE_YANDEX_PASSWORD", "s3cret")
	t.Setenv("MAILMERGE_OTHER_PASSWORD", "s3cret")
	_, warnings, err := load(t, `accounts:
  - name: yandex
    host: smtp.yandex.ru
send:
  journal: postgres://mm@db.example.org/mail
  journal_password_env: MAILMERGE_DB_PASSWORD
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"$MAILMERGE_OTHER_PASSWORD is not a setting, and is ignored"}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings %q, want %q", warnings, want)
	}
}

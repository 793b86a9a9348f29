// Package config defines mailmerge's configuration: the typed form of the
// YAML file, its defaults, and the checks that name the offending key.
// Reading the file, the environment and the flags happens in the command
// (with Viper); Decode takes the values from there, parses each once into
// its type (an encoding, a delimiter, a security mode, a rate), and
// reports every problem as a *KeyError.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Config is the whole configuration of a mailing.
type Config struct {
	// Campaign names the mailing. It seeds Message-IDs and the journal, so
	// it must not change between runs of the same mailing.
	Campaign string `mapstructure:"campaign"`
	// CampaignFromFile says no campaign was named (in the file, the
	// environment or a flag): Campaign is the config file's name.
	CampaignFromFile        bool            `mapstructure:"-"`
	Template                string          `mapstructure:"template"`
	AttachmentsDir          string          `mapstructure:"attachments_dir"`
	AttachmentsAllowOutside bool            `mapstructure:"attachments_allow_outside"`
	Recipients              Recipients      `mapstructure:"recipients"`
	SMTP                    SMTP            `mapstructure:"smtp"`
	Accounts                []Account       `mapstructure:"accounts"`
	Maildir                 Maildir         `mapstructure:"maildir"`
	Send                    Send            `mapstructure:"send"`
	ListUnsubscribe         ListUnsubscribe `mapstructure:"list_unsubscribe"`
	IMAP                    IMAP            `mapstructure:"imap"`
	PDF                     PDF             `mapstructure:"pdf"`

	// File is the config file the values came from; relative paths in
	// it are relative to its folder.
	File string `mapstructure:"-"`
	// Overrides names, per key, the flag ("--rate") or environment
	// variable ("$MAILMERGE_SEND_RATE") that set it over the file.
	Overrides map[string]string `mapstructure:"-"`
	lines     map[string]int    // the file's keys, by line (keyLines)
	// section, in the config of one account of accounts: (ForAccount),
	// is where its keys are: "accounts.NAME".
	section string
}

// Source says where the value of key came from, for errors: the flag or
// environment variable that set it, or else the config file.
func (c *Config) Source(key string) string {
	if s, ok := c.Overrides[key]; ok {
		return s
	}
	for k := key; k != ""; { // the key's line, or its section's
		if line, ok := c.lines[strings.ToLower(k)]; ok {
			return fmt.Sprintf("%s:%d", filepath.Base(c.File), line)
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return filepath.Base(c.File)
}

// Recipients says where the recipient list is and how to read it.
type Recipients struct {
	// File is a CSV file, or a spreadsheet: .xlsx, .ods (by its
	// extension, recipients.IsSpreadsheet).
	File string `mapstructure:"file"`
	// Encoding and Delimiter are a CSV file's (a suppress list's too).
	Encoding  recipients.Encoding  `mapstructure:"encoding"`
	Delimiter recipients.Delimiter `mapstructure:"delimiter"`
	// Sheet names the sheet of a spreadsheet to read; the first if "".
	Sheet string `mapstructure:"sheet"`
	// Key names a column that identifies each row (a student ID): a
	// letter is then known by it alone, whatever its recipients.
	Key string `mapstructure:"key"`
	// Suppress names a file of addresses never to mail (unsubscribed or
	// bounced people): one per line, or a CSV with an email column.
	Suppress string `mapstructure:"suppress"`
	// GroupBy names a column (email) whose rows with one value make one
	// letter, with every row in {{range .Rows}}.
	GroupBy string `mapstructure:"group_by"`
	// SendAfter names a column whose cell holds a row's letter until
	// that time (2026-12-08 09:00); an empty cell holds nothing.
	SendAfter string `mapstructure:"send_after"`
}

// SMTP is the submission server.
type SMTP struct {
	// Provider names a mail provider whose settings fill the keys the
	// file leaves out (provider.go): host, port, security, auth, the
	// OAuth2 endpoints and the sending limits.
	Provider      string        `mapstructure:"provider"`
	Auth          Auth          `mapstructure:"auth"`
	OAuth2        OAuth2        `mapstructure:"oauth2"`
	Host          string        `mapstructure:"host"`
	Port          int           `mapstructure:"port"`
	Security      smtp.Security `mapstructure:"security"`
	Username      string        `mapstructure:"username"`
	PasswordEnv   string        `mapstructure:"password_env"`
	PasswordFile  string        `mapstructure:"password_file"`
	Helo          string        `mapstructure:"helo"`
	CAFile        string        `mapstructure:"ca_file"`
	ServerName    string        `mapstructure:"server_name"`
	AllowInsecure bool          `mapstructure:"allow_insecure"`
	DialTimeout   time.Duration `mapstructure:"dial_timeout"`
	Timeout       time.Duration `mapstructure:"timeout"`      // per command
	DataTimeout   time.Duration `mapstructure:"data_timeout"` // wait for the reply after the final dot
}

// IMAP is the sender's mailbox: where bounces come back (mailmerge
// bounces) and where copies of the letters sent may be saved.
type IMAP struct {
	Auth         Auth          `mapstructure:"auth"` // the SMTP login's when not set
	Host         string        `mapstructure:"host"`
	Port         int           `mapstructure:"port"`
	Security     string        `mapstructure:"security"` // tls or starttls
	Username     string        `mapstructure:"username"`
	PasswordEnv  string        `mapstructure:"password_env"`
	PasswordFile string        `mapstructure:"password_file"`
	CAFile       string        `mapstructure:"ca_file"`
	ServerName   string        `mapstructure:"server_name"`
	Mailbox      string        `mapstructure:"mailbox"` // where bounces arrive
	SentFolder   string        `mapstructure:"sent_folder"`
	SaveCopies   bool          `mapstructure:"save_copies"`
	Timeout      time.Duration `mapstructure:"timeout"`
	// TotalTimeout bounds one reading of the mailbox by bounces, whatever
	// the server holds or does.
	TotalTimeout time.Duration `mapstructure:"total_timeout"`
}

// PDF is how attachments printed as PDF are made (Attachment: page.html;
// render=pdf).
type PDF struct {
	// Browser is the Chromium-family browser to print with: a path, or a
	// program name on PATH; "" looks in the usual places.
	Browser string `mapstructure:"browser"`
}

// Maildir is the alternative transport: letters are written into a folder.
type Maildir struct {
	Path string `mapstructure:"path"`
}

// ListUnsubscribe is how a recipient leaves a bulk mailing (RFC 2369,
// RFC 8058): an https URL, a template with the row's fields, and/or an
// address to write to.
type ListUnsubscribe struct {
	HTTPS  string `mapstructure:"https"`
	Mailto string `mapstructure:"mailto"`
}

// Send is the sending policy.
type Send struct {
	Concurrency           int           `mapstructure:"concurrency"`
	Rate                  Rate          `mapstructure:"rate"`
	DailyLimit            Quota         `mapstructure:"daily_limit"`
	DailyLimitCounts      string        `mapstructure:"daily_limit_counts"` // CountLetters or CountRecipients
	MaxAttempts           int           `mapstructure:"max_attempts"`
	MessagesPerConnection int           `mapstructure:"messages_per_connection"`
	RetryDelay            time.Duration `mapstructure:"retry_delay"`
	Journal               string        `mapstructure:"journal"`
	// JournalPasswordEnv names the environment variable with the
	// password of a journal in PostgreSQL; else PGPASSWORD or ~/.pgpass.
	JournalPasswordEnv string `mapstructure:"journal_password_env"`
	// Lease is how long a letter a send of a journal in PostgreSQL took
	// stays its unless renewed: how long the letters of a machine that
	// died wait for another send of the campaign to take them.
	Lease         time.Duration `mapstructure:"lease"`
	DSN           DSN           `mapstructure:"dsn"`
	MaxLetterSize Size          `mapstructure:"max_letter_size"`
	RenderTimeout time.Duration `mapstructure:"render_timeout"`
	// TestSubjectPrefix goes before the subject of every test letter
	// (send --redirect-to), so that a test is never taken for the real
	// one; empty for none.
	TestSubjectPrefix string `mapstructure:"test_subject_prefix"`
}

// CountsRecipients reports whether send.daily_limit counts recipients
// rather than letters.
func (s Send) CountsRecipients() bool { return s.DailyLimitCounts == CountRecipients }

// DSN is what delivery status notifications (RFC 3461) to ask for, where
// the server offers them: when (notify: failure, delay, success, or
// never) and what of the letter they return (ret: headers or full).
type DSN struct {
	Notify []string `mapstructure:"notify"`
	Ret    string   `mapstructure:"ret"`
}

// Sender is the DSN request as the SMTP client makes it; nil for none.
func (d DSN) Sender() *smtp.DSN {
	if len(d.Notify) == 0 && d.Ret == "" {
		return nil
	}
	out := &smtp.DSN{}
	for _, n := range d.Notify {
		out.Notify = append(out.Notify, strings.ToUpper(strings.TrimSpace(n)))
	}
	switch strings.ToLower(d.Ret) {
	case "headers":
		out.Ret = "HDRS"
	case "full":
		out.Ret = "FULL"
	}
	return out
}

// KeyError is a problem with the value of one key.
type KeyError struct {
	Source string // where the value came from: the config file's name, or the flag or environment variable that set it
	Key    string
	Err    error
}

func (e *KeyError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Source, e.Key, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// Resolve fills values that depend on others and makes paths absolute,
// relative to the config file's folder.
func (c *Config) Resolve() {
	dir := filepath.Dir(c.File)
	base := strings.TrimSuffix(filepath.Base(c.File), filepath.Ext(c.File))
	if c.Campaign == "" {
		c.Campaign, c.CampaignFromFile = base, true
	}
	abs := c.abs
	c.applyProvider()
	abs(&c.Template)
	abs(&c.Recipients.File)
	abs(&c.Recipients.Suppress)
	abs(&c.AttachmentsDir)
	abs(&c.SMTP.PasswordFile)
	abs(&c.SMTP.CAFile)
	abs(&c.Maildir.Path)
	abs(&c.IMAP.PasswordFile)
	abs(&c.IMAP.CAFile)
	if strings.ContainsAny(c.PDF.Browser, `/\`) { // a path; else a name on PATH
		abs(&c.PDF.Browser)
	}
	if c.IMAP.Port == 0 {
		c.IMAP.Port = 993
		if strings.EqualFold(c.IMAP.Security, "starttls") {
			c.IMAP.Port = 143
		}
	}
	if c.Send.Journal == "" {
		c.Send.Journal = c.defaultJournal(dir, base)
	}
	if !c.Send.JournalInDB() {
		abs(&c.Send.Journal)
	}
	if c.AttachmentsDir == "" && c.Template != "" {
		c.AttachmentsDir = filepath.Dir(c.Template)
	}
	if c.SMTP.Auth == "" {
		c.SMTP.Auth = Password
	}
	if c.IMAP.Auth == "" {
		c.IMAP.Auth = c.SMTP.Auth
	}
	if c.SMTP.Security == "" {
		c.SMTP.Security = securityOf(c.SMTP.Port)
	}
	c.resolveAccounts()
}

// abs makes a path of the config absolute, relative to its folder.
func (c *Config) abs(p *string) {
	if *p != "" && !filepath.IsAbs(*p) {
		*p = filepath.Join(filepath.Dir(c.File), *p)
	}
}

// defaultJournal is the journal of the campaign: named after it, beside the
// config, so that every config in the folder naming the campaign shares
// it (and its lock). A journal named after the config file, as earlier
// versions made it, is used while none named after the campaign exists.
func (c *Config) defaultJournal(dir, base string) string {
	name := filepath.Join(dir, JournalName(c.Campaign))
	legacy := filepath.Join(dir, base+".journal")
	if name != legacy {
		if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(legacy); err == nil {
				return legacy
			}
		}
	}
	return name
}

// JournalName is the file name of a campaign's journal: the campaign's
// name with the characters no file system takes in a name replaced.
func JournalName(campaign string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, campaign)
	name = strings.Trim(name, " .")
	if name == "" {
		name = "campaign"
	}
	return name + ".journal"
}

// Validate checks every key and returns all problems, each a *KeyError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	if c.Template == "" {
		bad("template", "required: the letter template file")
	}
	if c.Recipients.File == "" {
		bad("recipients.file", "required: the recipients CSV file or spreadsheet")
	}
	if c.Recipients.Sheet != "" && c.Recipients.File != "" && !recipients.IsSpreadsheet(c.Recipients.File) {
		bad("recipients.sheet", "names a sheet of a spreadsheet (.xlsx, .ods), and %s is not one", filepath.Base(c.Recipients.File))
	}
	for _, n := range c.Send.DSN.Notify {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "failure", "delay", "success":
		case "never":
			if len(c.Send.DSN.Notify) > 1 {
				bad("send.dsn.notify", "never goes alone, got %v", c.Send.DSN.Notify)
			}
		default:
			bad("send.dsn.notify", "want failure, delay, success or never, got %q", n)
		}
	}
	if r := strings.ToLower(c.Send.DSN.Ret); r != "" && r != "headers" && r != "full" {
		bad("send.dsn.ret", "want headers or full, got %q", c.Send.DSN.Ret)
	}
	if u := c.ListUnsubscribe.HTTPS; u != "" && !strings.HasPrefix(u, "https://") {
		bad("list_unsubscribe.https", "want an https:// URL (mail providers take one-click unsubscribing over https only), got %q", u)
	}
	if m := c.ListUnsubscribe.Mailto; m != "" {
		if err := address.One(m); err != nil || strings.ContainsAny(m, "<> ") {
			bad("list_unsubscribe.mailto", "want one plain address, like unsubscribe@example.edu, got %q", m)
		}
	}
	if strings.TrimSpace(c.Campaign) == "" || strings.ContainsFunc(c.Campaign, unicode.IsControl) {
		bad("campaign", "must be a non-empty name without control characters")
	}

	errs = append(errs, c.validateSMTP()...)
	errs = append(errs, c.validateAccounts()...)
	errs = append(errs, c.validateIMAP()...)
	errs = append(errs, c.validateLogin()...)
	errs = append(errs, c.validateJournal()...)

	p := c.Send
	if p.Concurrency < 1 || p.Concurrency > 100 {
		bad("send.concurrency", "must be between 1 and 100, got %d", p.Concurrency)
	}
	if p.DailyLimitCounts != "" && p.DailyLimitCounts != CountLetters && p.DailyLimitCounts != CountRecipients {
		bad("send.daily_limit_counts", "must be %s or %s, got %q", CountLetters, CountRecipients, p.DailyLimitCounts)
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 20 {
		bad("send.max_attempts", "must be between 1 and 20, got %d", p.MaxAttempts)
	}
	if p.RetryDelay <= 0 {
		bad("send.retry_delay", "must be positive, got %v", p.RetryDelay)
	}
	if p.RenderTimeout < 0 {
		bad("send.render_timeout", "must be positive, got %v", p.RenderTimeout)
	}
	if p.MaxLetterSize < 0 {
		bad("send.max_letter_size", "must not be negative, got %v", p.MaxLetterSize)
	}
	if p.MessagesPerConnection < 1 {
		bad("send.messages_per_connection", "must be at least 1, got %d", p.MessagesPerConnection)
	}
	if strings.ContainsFunc(p.TestSubjectPrefix, unicode.IsControl) || utf8.RuneCountInString(p.TestSubjectPrefix) > 100 || !utf8.ValidString(p.TestSubjectPrefix) {
		bad("send.test_subject_prefix", "must be text of one line, at most 100 characters, got %q", p.TestSubjectPrefix)
	}
	return errors.Join(errs...)
}

func (c *Config) validateIMAP() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	m := c.IMAP
	if m.Host == "" && !m.SaveCopies {
		return nil // no mailbox: nothing of it is used
	}
	switch strings.ToLower(m.Security) {
	case "tls", "ssl", "starttls", "":
	default:
		bad("imap.security", "must be tls (also called SSL) or starttls (IMAP carries a password: never in the clear), got %q", m.Security)
	}
	if m.Port < 1 || m.Port > 65535 {
		bad("imap.port", "must be between 1 and 65535, got %d", m.Port)
	}
	if strings.ContainsAny(m.Host, " /\t:") && net.ParseIP(strings.Trim(m.Host, "[]")) == nil || strings.Contains(m.Host, "://") {
		bad("imap.host", "must be a host name or address (the port goes in imap.port), got %q", m.Host)
	}
	if m.Host != "" && m.Username == "" {
		bad("imap.username", "required with imap.host: the mailbox to log in to")
	}
	if m.PasswordEnv != "" && !envName.MatchString(m.PasswordEnv) {
		bad("imap.password_env", "must be the name of an environment variable, like MAILMERGE_IMAP_PASSWORD (the value is not shown: it may be a password)")
	}
	for key, file := range map[string]string{"imap.password_file": m.PasswordFile, "imap.ca_file": m.CAFile} {
		if file != "" {
			if _, err := os.Stat(file); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if m.TotalTimeout < 0 {
		bad("imap.total_timeout", "must be positive, got %v", m.TotalTimeout)
	}
	if m.Timeout < 0 {
		bad("imap.timeout", "must be positive, got %v", m.Timeout)
	}
	if m.SaveCopies && m.SentFolder == "" {
		bad("imap.save_copies", "needs imap.sent_folder: the folder of your mailbox copies go to (often Sent)")
	}
	if m.SaveCopies && m.Host == "" {
		bad("imap.host", "required with imap.save_copies: the server that keeps the Sent folder")
	}

	return errs
}

// envName is what an environment variable's name looks like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// validateSMTP checks the keys of smtp:, or of one account of accounts:
// in its config (ForAccount).
func (c *Config) validateSMTP() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	s := c.SMTP
	if s.Port < 1 || s.Port > 65535 {
		bad("smtp.port", "must be between 1 and 65535, got %d", s.Port)
	}
	switch s.Security {
	case smtp.StartTLS, smtp.TLS:
	case smtp.Plain:
		if s.Host != "" && !isLoopback(s.Host) && !s.AllowInsecure {
			bad("smtp.security", "none sends mail (and passwords) in the clear; allowed only for a loopback host unless smtp.allow_insecure is true")
		}
		if s.Username != "" {
			bad("smtp.username", "authentication needs an encrypted connection: set smtp.security to starttls or tls")
		}
	default:
		bad("smtp.security", "must be starttls, tls or none, got %q", s.Security)
	}
	switch {
	case strings.ContainsAny(s.Host, " /\t") || strings.Contains(s.Host, "://"):
		bad("smtp.host", "must be a host name or address, got %q", s.Host)
	case strings.Contains(s.Host, ":") && net.ParseIP(strings.Trim(s.Host, "[]")) == nil:
		bad("smtp.host", "must be a host name or address, without the port (it goes in smtp.port), got %q", s.Host)
	}
	if s.PasswordEnv != "" && !envName.MatchString(s.PasswordEnv) {
		bad("smtp.password_env", "must be the name of an environment variable, like MAILMERGE_SMTP_PASSWORD (the value is not shown: it may be a password)")
	}
	if s.PasswordFile != "" {
		if _, err := os.Stat(s.PasswordFile); err != nil {
			bad("smtp.password_file", "%v", err)
		}
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			bad("smtp.ca_file", "%v", err)
		}
	}
	for key, d := range map[string]time.Duration{"smtp.dial_timeout": s.DialTimeout, "smtp.timeout": s.Timeout} {
		if d <= 0 {
			bad(key, "must be positive, got %v", d)
		}
	}
	if s.DataTimeout < 10*time.Minute {
		bad("smtp.data_timeout", "must be at least 10m (RFC 5321 §4.5.3.2.6): a shorter wait after the final dot makes duplicate letters, got %v", s.DataTimeout)
	}
	if s.Host != "" && c.Maildir.Path != "" {
		bad("maildir.path", "set either smtp.host or maildir.path, not both")
	}

	return errs
}

package config

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Auth is how mailmerge logs in to a server: with a password (or an app
// password), or with an OAuth2 access token (mailmerge login).
type Auth string

// Logins.
const (
	Password Auth = "password"
	OAuth    Auth = "oauth2"
)

// UnmarshalText reads password or oauth2.
func (a *Auth) UnmarshalText(text []byte) error {
	switch v := Auth(strings.ToLower(strings.TrimSpace(string(text)))); v {
	case "", Password, OAuth:
		*a = v
		return nil
	}
	return fmt.Errorf("want password or oauth2, got %q", text)
}

// OAuth2 is the application a user logs in through (registered by their
// IT in Entra ID or Google Cloud) and the authorization server's
// endpoints. A provider fills in the endpoints and scopes.
type OAuth2 struct {
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is Google's for a Desktop app, which its token
	// endpoint wants; not a secret an installed program can keep.
	ClientSecret string   `mapstructure:"client_secret"`
	Tenant       string   `mapstructure:"tenant"` // Microsoft: organizations, common, or the tenant's id
	AuthURL      string   `mapstructure:"auth_url"`
	TokenURL     string   `mapstructure:"token_url"`
	DeviceURL    string   `mapstructure:"device_url"` // the device authorization endpoint (RFC 8628); "" if the provider has none for mail
	Scopes       []string `mapstructure:"scopes"`
}

// Provider is a mail provider a config names in smtp.provider: its
// servers, the login its users need, and its published sending limits,
// which fill the keys the file leaves out. docs/providers.md gives each
// value with its source.
type Provider struct {
	Title             string
	SMTPHost          string
	SMTPPort          int
	Security          smtp.Security
	IMAPHost          string
	Auth              Auth
	AuthURL, TokenURL string // {tenant} stands for oauth2.tenant
	DeviceURL         string
	SMTPScope         string
	IMAPScope         string
	Offline           string // the scope that grants a refresh token, if it takes one
	Rate              Rate   // letters a mailbox may send, at most
	DailyLimit        int    // letters or recipients (DailyCounts) in any 24 hours, at most
	DailyCounts       string // what DailyLimit counts: CountLetters or CountRecipients
	Concurrency       int    // sessions a mailbox may hold at once; 0: not published
	DefaultTenant     string
	DeviceUnsupported string // why --device cannot log in here; "" when it can
}

// Providers are the presets smtp.provider takes.
var Providers = map[string]Provider{
	"microsoft365": {
		Title:    "Microsoft 365",
		SMTPHost: "smtp.office365.com", SMTPPort: 587, Security: smtp.StartTLS,
		IMAPHost: "outlook.office365.com",
		Auth:     OAuth,
		AuthURL:  "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
		TokenURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", DeviceURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
		SMTPScope: "https://outlook.office.com/SMTP.Send", IMAPScope: "https://outlook.office.com/IMAP.AccessAsUser.All", Offline: "offline_access",
		Rate: Rate{N: 30, Per: time.Minute}, DailyLimit: 10_000, DailyCounts: CountRecipients, Concurrency: 3, DefaultTenant: "organizations",
	},
	"google": google("Google Workspace", 2_000),
	"gmail":  google("Gmail", 500),
	"yandex": {
		Title:    "Yandex Mail",
		SMTPHost: "smtp.yandex.ru", SMTPPort: 465, Security: smtp.TLS,
		IMAPHost: "imap.yandex.ru",
		Auth:     Password, // an app password; oauth2 with an application of one's own
		AuthURL:  "https://oauth.yandex.ru/authorize", TokenURL: "https://oauth.yandex.ru/token", DeviceURL: "https://oauth.yandex.ru/device/code",
		SMTPScope: "mail:smtp", IMAPScope: "mail:imap_full",
		DailyLimit: 500, DailyCounts: CountRecipients,
	},
	"mailru": {
		Title:    "Mail.ru",
		SMTPHost: "smtp.mail.ru", SMTPPort: 465, Security: smtp.TLS,
		IMAPHost: "imap.mail.ru",
		Auth:     Password, // a password for external applications
	},
}

// google is the preset of a Google account: Workspace and gmail.com
// differ in their daily limit alone.
func google(title string, daily int) Provider {
	return Provider{
		Title:    title,
		SMTPHost: "smtp.gmail.com", SMTPPort: 587, Security: smtp.StartTLS,
		IMAPHost: "imap.gmail.com",
		Auth:     OAuth,
		AuthURL:  "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token",
		SMTPScope: "https://mail.google.com/", IMAPScope: "https://mail.google.com/",
		DailyLimit:        daily,
		DailyCounts:       CountLetters,
		DeviceUnsupported: "Google's device flow does not grant access to mail (https://mail.google.com/): log in on a machine with a browser, without --device",
	}
}

// provider is the preset smtp.provider names; ok is false for none.
func (c *Config) provider() (Provider, bool) {
	return providerNamed(c.SMTP.Provider)
}

// providerNamed is the preset of a provider's name; ok is false for
// none.
func providerNamed(name string) (Provider, bool) {
	p, ok := Providers[strings.ToLower(strings.TrimSpace(name))]
	return p, ok
}

// isSet reports whether the file, a flag or the environment set key: a
// provider fills only the keys nobody set.
func (c *Config) isSet(key string) bool {
	_, inFile := c.lines[strings.ToLower(key)]
	return inFile || c.Overrides[key] != ""
}

// hasIMAP reports whether the file (or the environment) sets any key of
// the imap section: a provider then fills in its server.
func (c *Config) hasIMAP() bool {
	for _, k := range Keys() {
		if strings.HasPrefix(k, "imap.") && c.isSet(k) {
			return true
		}
	}
	_, ok := c.lines["imap"]
	return ok
}

// applyProvider fills the keys nobody set from smtp.provider's preset.
func (c *Config) applyProvider() {
	p, ok := c.provider()
	if !ok {
		return
	}
	fill := func(key string, apply func()) {
		if !c.isSet(key) {
			apply()
		}
	}
	p.fillSMTP(&c.SMTP, c.isSet)
	fill("send.rate", func() { c.Send.Rate = p.Rate })
	if p.DailyLimit > 0 {
		fill("send.daily_limit", func() { c.Send.DailyLimit = Quota{N: p.DailyLimit, Per: Day} })
		fill("send.daily_limit_counts", func() { c.Send.DailyLimitCounts = p.DailyCounts })
	}
	if p.Concurrency > 0 {
		fill("send.concurrency", func() { c.Send.Concurrency = p.Concurrency })
	}
	imap := c.hasIMAP()
	if imap {
		if c.IMAP.Host == "" {
			c.IMAP.Host = p.IMAPHost
		}
	}
	if c.IMAP.Auth == "" {
		c.IMAP.Auth = c.SMTP.Auth
	}
	fillScopes(&c.SMTP.OAuth2, p, imap && c.IMAP.Auth == OAuth)
}

// fillSMTP fills the server and login keys of s that are not set (isSet
// tells, by smtp.* key) from the preset.
func (p Provider) fillSMTP(s *SMTP, isSet func(key string) bool) {
	// Text left empty is filled too: config.example.yaml shows these
	// keys empty.
	fillText := func(v *string, preset string) {
		if *v == "" {
			*v = preset
		}
	}
	o := &s.OAuth2
	fillText(&s.Host, p.SMTPHost)
	if !isSet("smtp.port") || s.Port == 0 {
		s.Port = p.SMTPPort
	}
	if s.Security == "" {
		s.Security = p.Security
	}
	if s.Auth == "" {
		s.Auth = p.Auth
	}
	fillText(&o.Tenant, p.DefaultTenant)
	tenant := func(u string) string { return strings.ReplaceAll(u, "{tenant}", o.Tenant) }
	fillText(&o.AuthURL, tenant(p.AuthURL))
	fillText(&o.TokenURL, tenant(p.TokenURL))
	fillText(&o.DeviceURL, tenant(p.DeviceURL))
}

// fillScopes gives an OAuth2 login without scopes the preset's: to send,
// to read the mailbox too when imap says so (one login for both servers:
// one token with both scopes), and to be renewed.
func fillScopes(o *OAuth2, p Provider, imap bool) {
	if len(o.Scopes) > 0 {
		return
	}
	for _, sc := range []string{p.SMTPScope, map[bool]string{true: p.IMAPScope}[imap], p.Offline} {
		if sc != "" && !slices.Contains(o.Scopes, sc) {
			o.Scopes = append(o.Scopes, sc)
		}
	}
}

// validateLogin checks smtp.provider, the logins and the OAuth2 keys.
func (c *Config) validateLogin() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	s := c.SMTP
	if s.Provider != "" {
		if _, ok := c.provider(); !ok {
			bad("smtp.provider", "unknown provider %q: want one of %s", s.Provider, strings.Join(slices.Sorted(maps.Keys(Providers)), ", "))
		}
	}
	if s.Auth == OAuth || c.IMAP.Host != "" && c.IMAP.Auth == OAuth {
		o := s.OAuth2
		switch {
		case s.Username == "":
			bad("smtp.username", "auth: oauth2 logs in as a user: set smtp.username to the mailbox's address")
		case o.ClientID == "":
			bad("smtp.oauth2.client_id", "auth: oauth2 needs the client id of the application your IT registered for mailmerge (docs/providers.md says how to register one)")
		case o.AuthURL == "" || o.TokenURL == "":
			bad("smtp.oauth2", "auth: oauth2 needs auth_url and token_url, or smtp.provider to fill them in")
		case len(o.Scopes) == 0:
			bad("smtp.oauth2.scopes", "auth: oauth2 needs the scopes to ask for, or smtp.provider to fill them in")
		}
		for key, u := range map[string]string{"smtp.oauth2.auth_url": o.AuthURL, "smtp.oauth2.token_url": o.TokenURL, "smtp.oauth2.device_url": o.DeviceURL} {
			if u != "" && !strings.HasPrefix(u, "https://") && !isLoopbackURL(u) {
				bad(key, "want an https:// URL (http:// only on this machine, for a test server), got %q", u)
			}
		}
		if s.PasswordFile != "" && s.Auth == OAuth {
			bad("smtp.password_file", "auth: oauth2 logs in with a token (mailmerge login), not a password: remove password_file, or set auth: password")
		}
	}
	return errs
}

// isLoopbackURL reports an http:// URL of this machine.
func isLoopbackURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isLoopback(host)
}

// ProviderWarnings say which sending settings go past smtp.provider's
// published limits: the provider refuses the letters past them, or
// blocks the account for a day.
func (c *Config) ProviderWarnings() []error {
	var out []error
	for _, a := range c.Accounts {
		out = append(out, c.ForAccount(a).ProviderWarnings()...)
	}
	p, ok := c.provider()
	if !ok {
		return out
	}
	warn := func(key string, format string, args ...any) {
		out = append(out, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	if p.Concurrency > 0 && c.Send.Concurrency > p.Concurrency {
		warn("send.concurrency", "%s lets a mailbox hold %d sessions at once; the ones past it are refused (432 4.3.2): set %d or less", p.Title, p.Concurrency, p.Concurrency)
	}
	if p.DailyLimit > 0 && c.Send.DailyLimit.In24h() > p.DailyLimit {
		warn("send.daily_limit", "%s lets a mailbox send %d a day, counting %s in any 24 hours; past it, sending is blocked for up to a day: set %d or less", p.Title, p.DailyLimit, p.DailyCounts, p.DailyLimit)
	}
	if p.DailyLimit > 0 && c.Send.DailyLimit.N > 0 && p.DailyCounts == CountRecipients && c.Send.DailyLimitCounts != CountRecipients {
		warn("send.daily_limit_counts", "%s counts recipients (To, Cc and Bcc), not letters: set recipients, or letters of several recipients run past its limit", p.Title)
	}
	if p.DailyLimit > 0 && c.Send.DailyLimit.N == 0 {
		warn("send.daily_limit", "%s lets a mailbox send %d a day: 0 (no limit) lets a long mailing run into it; set %d or less", p.Title, p.DailyLimit, p.DailyLimit)
	}
	if p.Rate.N > 0 && (c.Send.Rate.N == 0 || c.Send.Rate.Time(p.Rate.N) < p.Rate.Per) {
		warn("send.rate", "%s lets a mailbox send %s; a faster rate is refused: set %s or slower", p.Title, p.Rate, p.Rate)
	}
	return out
}

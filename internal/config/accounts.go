package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Account is one of several accounts or relays a mailing sends through
// (accounts:, in place of smtp:): an SMTP server and its login, with
// limits of its own. Each letter goes through one of them; the journal
// records which.
type Account struct {
	// Name names the account in messages, the journal and the report:
	// a letter, then letters, digits, - and _.
	Name string `mapstructure:"name"`
	SMTP `mapstructure:",squash"`
	// Rate, DailyLimit, DailyLimitCounts and Concurrency are the
	// account's own send.rate, send.daily_limit, send.daily_limit_counts
	// and send.concurrency: its provider's, else those of send:.
	Rate             Rate   `mapstructure:"rate"`
	DailyLimit       Quota  `mapstructure:"daily_limit"`
	DailyLimitCounts string `mapstructure:"daily_limit_counts"`
	Concurrency      int    `mapstructure:"concurrency"`
	// Weight is the account's share of the letters against the others',
	// while several have room for more: weight 3 takes three letters
	// for one of weight 1. Default 1.
	Weight int `mapstructure:"weight"`
}

// CountsRecipients reports whether the account's daily limit counts
// recipients rather than letters.
func (a Account) CountsRecipients() bool { return a.DailyLimitCounts == CountRecipients }

// Senders lists the accounts a mailing sends through: those of
// accounts:, or the one of smtp:, named "", with the limits of send:.
func (c *Config) Senders() []Account {
	if len(c.Accounts) > 0 {
		return c.Accounts
	}
	return []Account{{SMTP: c.SMTP, Rate: c.Send.Rate, DailyLimit: c.Send.DailyLimit, DailyLimitCounts: c.Send.DailyLimitCounts,
		Concurrency: c.Send.Concurrency, Weight: 1}}
}

// ForAccount is the config as one account of accounts: sees it: its
// server and login in smtp:, its limits in send:. Problems with its keys
// are named after the account (accounts.NAME.host) and located at its
// lines. The one account of smtp: is c itself.
func (c *Config) ForAccount(a Account) *Config {
	if a.Name == "" {
		return c
	}
	cc := *c
	cc.SMTP = a.SMTP
	cc.Send.Rate, cc.Send.DailyLimit, cc.Send.DailyLimitCounts, cc.Send.Concurrency = a.Rate, a.DailyLimit, a.DailyLimitCounts, a.Concurrency
	cc.Accounts = nil
	cc.section = "accounts." + a.Name
	return &cc
}

// AccountNamed finds an account of accounts: by name.
func (c *Config) AccountNamed(name string) (Account, bool) {
	for _, a := range c.Accounts {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return Account{}, false
}

// accountName is what an account's name may be.
var accountName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// resolveAccounts fills what each account of accounts: leaves out: its
// provider's settings, then the defaults of smtp: and the limits of
// send:, and its password's variable, MAILMERGE_NAME_PASSWORD.
func (c *Config) resolveAccounts() {
	defaults := Defaults()
	for i := range c.Accounts {
		a := &c.Accounts[i]
		key := func(k string) string { return "accounts." + a.Name + "." + k }
		p, hasProvider := providerNamed(a.Provider)
		if hasProvider {
			p.fillSMTP(&a.SMTP, func(k string) bool { return c.isSet(key(strings.TrimPrefix(k, "smtp."))) })
			fillScopes(&a.OAuth2, p, false)
			if a.Rate.N == 0 {
				a.Rate = p.Rate
			}
			if a.DailyLimit.N == 0 && p.DailyLimit > 0 {
				a.DailyLimit = Quota{N: p.DailyLimit, Per: Day}
			}
			a.DailyLimitCounts = cmpOr(a.DailyLimitCounts, p.DailyCounts)
			if a.Concurrency == 0 {
				a.Concurrency = p.Concurrency
			}
		}
		if a.Port == 0 {
			a.Port = defaults["smtp.port"].(int)
		}
		if a.Security == "" {
			a.Security = securityOf(a.Port)
		}
		if a.Auth == "" {
			a.Auth = Password
		}
		if a.PasswordEnv == "" && a.PasswordFile == "" {
			a.PasswordEnv = "MAILMERGE_" + strings.ToUpper(strings.ReplaceAll(a.Name, "-", "_")) + "_PASSWORD"
		}
		a.DialTimeout = cmpOr(a.DialTimeout, c.SMTP.DialTimeout)
		a.Timeout = cmpOr(a.Timeout, c.SMTP.Timeout)
		a.DataTimeout = cmpOr(a.DataTimeout, c.SMTP.DataTimeout)
		a.Helo = cmpOr(a.Helo, c.SMTP.Helo)
		if a.Rate.N == 0 {
			a.Rate = c.Send.Rate
		}
		if a.DailyLimit.N == 0 {
			a.DailyLimit = c.Send.DailyLimit
		}
		a.DailyLimitCounts = cmpOr(a.DailyLimitCounts, c.Send.DailyLimitCounts)
		a.Concurrency = cmpOr(a.Concurrency, c.Send.Concurrency)
		a.Weight = cmpOr(a.Weight, 1)
		c.abs(&a.PasswordFile)
		c.abs(&a.CAFile)
	}
}

// cmpOr is cmp.Or for the types here.
func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// validateAccounts checks accounts: each account as smtp: is checked,
// and the names.
func (c *Config) validateAccounts() []error {
	if len(c.Accounts) == 0 {
		return nil
	}
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.KeyErr(key, fmt.Errorf(format, args...)))
	}
	if c.SMTP.Host != "" {
		bad("smtp.host", "set either smtp: or accounts:, not both (the accounts take every key of smtp:)")
	}
	if c.Maildir.Path != "" {
		bad("maildir.path", "set either maildir.path or accounts:, not both")
	}
	if c.IMAP.Host != "" && c.IMAP.Auth == OAuth {
		bad("imap.auth", "oauth2 for imap: is not available with accounts: yet; use an app password for the mailbox (imap.auth: password)")
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		k := "accounts." + a.Name
		switch {
		case a.Name == "":
			k = fmt.Sprintf("accounts.%d", i)
			bad(k+".name", "required: a name for the account, such as yandex or office (letters, digits, - and _)")
			continue
		case !accountName.MatchString(a.Name):
			bad(k+".name", "want a name of letters, digits, - and _, such as yandex or office, got %q", a.Name)
		case seen[strings.ToLower(a.Name)]:
			bad(k+".name", "two accounts are named %q: each needs a name of its own", a.Name)
		}
		seen[strings.ToLower(a.Name)] = true
		if a.Host == "" {
			bad(k+".host", "required: the account's SMTP server (or provider: to fill it in)")
		}
		ac := c.ForAccount(a)
		errs = append(errs, ac.validateSMTP()...)
		errs = append(errs, ac.validateLogin()...)
		if a.Concurrency < 1 || a.Concurrency > 100 {
			bad(k+".concurrency", "must be between 1 and 100, got %d", a.Concurrency)
		}
		if a.Weight < 1 || a.Weight > 1000 {
			bad(k+".weight", "must be between 1 and 1000, got %d", a.Weight)
		}
		if a.DailyLimitCounts != CountLetters && a.DailyLimitCounts != CountRecipients {
			bad(k+".daily_limit_counts", "must be %s or %s, got %q", CountLetters, CountRecipients, a.DailyLimitCounts)
		}
	}
	return errs
}

// securityOf is the security a port implies: implicit TLS on 465,
// STARTTLS elsewhere.
func securityOf(port int) smtp.Security {
	if port == 465 {
		return smtp.TLS
	}
	return smtp.StartTLS
}

// accountKey is key ("smtp.host", "send.rate") as the account of
// section ("accounts.NAME") has it: accounts.NAME.host.
func accountKey(section, key string) string {
	if rest, ok := strings.CutPrefix(key, "smtp."); ok {
		return section + "." + rest
	}
	switch key {
	case "smtp":
		return section
	case "send.rate", "send.daily_limit", "send.daily_limit_counts", "send.concurrency":
		return section + "." + strings.TrimPrefix(key, "send.")
	}
	return key
}

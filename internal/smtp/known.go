package smtp

import "strings"

// Account is what a reply says of the sending account, beyond the letter
// it answers. Providers refuse letters for reasons that are not the
// letter's: the account's quota for the day is spent, it sends too fast,
// it has too many sessions open, or its way of logging in is no longer
// taken. Every letter after would be refused the same way; none of them
// has failed.
type Account int

// What a reply may say of the account.
const (
	Ordinary        Account = iota // nothing: the reply is about the letter
	DailyQuota                     // the account's letters (or recipients) for the day are spent
	RateLimit                      // the account sends, or logs in, faster than the server allows
	TooManySessions                // the account has more sessions at once than the server allows
	LoginRefused                   // the server refuses the account's way of logging in
)

// Quota reports whether a is a limit that passes with time: a daily
// quota or a rate.
func (a Account) Quota() bool { return a == DailyQuota || a == RateLimit }

// Known is a reply recognized as one a provider sends about the account
// (Recognize), in plain words.
type Known struct {
	Account Account
	Words   string // what the reply means
	Do      string // what to do about it, and when to run send again
}

// Advice is k's words and what to do, as one sentence for people.
func (k Known) Advice() string {
	if k.Do == "" {
		return k.Words
	}
	return k.Words + ": " + k.Do
}

// Recognize says what a reply means for the account it was sent from,
// when it is one the big providers (Microsoft 365, Google, Yandex,
// Mail.ru) are known to send, or one that says plainly that a daily
// quota or a rate is exceeded. It goes by the reply's text as much as by
// its codes: Microsoft's daily quota is a 554 5.2.0, whose codes alone
// say "permanent, mailbox". It returns a Known of Account Ordinary for
// any other reply.
func Recognize(code int, enhanced, text string) Known {
	t := strings.ToLower(strings.Join(strings.Fields(text), " "))
	for _, p := range providerReplies {
		if p.matches(code, enhanced, t) {
			return p.known
		}
	}
	return recognizeGeneric(enhanced, t)
}

// providerReply is a reply a provider is known to send: a code and an
// enhanced code it must have (0 and "" for any) and phrases its text
// must all hold, in lower case.
type providerReply struct {
	code     int
	enhanced string
	phrases  []string
	known    Known
}

func (p providerReply) matches(code int, enhanced, text string) bool {
	if p.code != 0 && p.code != code || p.enhanced != "" && p.enhanced != enhanced {
		return false
	}
	for _, ph := range p.phrases {
		if !strings.Contains(text, ph) {
			return false
		}
	}
	return true
}

// What to do, said once for the replies that share it.
const (
	doTomorrow = "run send again tomorrow; the letters not sent are kept for it"
	doLater    = "run send again in an hour, with a lower send.rate; the letters not sent are kept for it"
	doOAuth    = "run mailmerge login, and set smtp.auth: oauth2 in the config"
	doGoogle   = "create an app password (Google Account, Security, 2-Step Verification, App passwords) and use it as the password, " +
		"or run mailmerge login and set smtp.auth: oauth2 in the config"
)

// loginFirst is a server's refusal of letters before a login.
var loginFirst = Known{LoginRefused, "the server takes letters only after a login", "set smtp.username (and its password), or " + doOAuth}

// providerReplies are the providers' own replies, most specific first.
// Each text is quoted, as the provider writes it, in known_test.go, with
// where it was seen.
var providerReplies = []providerReply{
	// Microsoft 365 (Exchange Online).
	{phrases: []string{"submissionquotaexceeded"}, known: Known{DailyQuota,
		"the account's sending limit is reached (Microsoft 365 counts the recipients of the last 24 hours)", doTomorrow}},
	{phrases: []string{"reached your daily limit for message recipients"}, known: Known{DailyQuota,
		"the account's daily limit of recipients is reached (Outlook.com counts the recipients of the last 24 hours)", doTomorrow}},
	{phrases: []string{"sender thread limit exceeded"}, known: Known{TooManySessions,
		"the server allows this account fewer sessions at once (Microsoft 365: at most 3, counting Outlook or any other program sending from the account)",
		"set send.concurrency to 3 or less"}},
	{phrases: []string{"basic authentication is not supported for client submission"}, known: Known{LoginRefused,
		"Microsoft 365 no longer takes the account's password for sending (basic authentication is switched off)", doOAuth}},
	{enhanced: "5.7.139", phrases: []string{"smtpclientauthentication is disabled"}, known: Known{LoginRefused,
		"Microsoft 365 does not let this mailbox send with SMTP: SMTP AUTH is switched off for the organisation (the tenant) or for the mailbox",
		"ask your IT to switch on Authenticated SMTP for this mailbox (Microsoft 365 admin center: Users, Active users, the user, Mail, Manage email apps), " +
			"which overrides the organisation's setting, unless security defaults in Entra ID block it (https://aka.ms/smtp_auth_disabled); then " + doOAuth}},
	{enhanced: "5.7.139", phrases: []string{"basic authentication is disabled"}, known: Known{LoginRefused,
		"Microsoft 365 no longer takes the account's password for sending (basic authentication is switched off)", doOAuth}},
	{enhanced: "5.7.139", known: Known{LoginRefused,
		"Microsoft 365 refused this way of logging in (the organisation's security settings block it)", doOAuth + "; if that is refused too, ask your IT"}},
	{code: 530, phrases: []string{"not authenticated"}, known: loginFirst},
	{code: 530, phrases: []string{"authentication required"}, known: loginFirst},

	// Google (Gmail, Google Workspace).
	{enhanced: "5.4.5", phrases: []string{"daily", "sending"}, known: Known{DailyQuota,
		"the account's sending limit is reached (Google counts the recipients of the last 24 hours: 2,000 for Google Workspace, 500 for gmail.com)", doTomorrow}},
	{code: 421, enhanced: "4.7.0", phrases: []string{"try again later, closing connection"}, known: Known{RateLimit,
		"the server asks to slow down: the account sent too much too quickly", doLater}},
	{enhanced: "4.7.0", phrases: []string{"too many login attempts"}, known: Known{RateLimit,
		"the server takes no login for now: too many in a short time",
		"run send again in an hour; fewer sessions (send.concurrency) log in less often"}},
	{phrases: []string{"application-specific password required"}, known: Known{LoginRefused,
		"the account has 2-Step Verification, so Google takes an app password here, not the account's own password", doGoogle}},
	{phrases: []string{"username and password not accepted"}, known: Known{LoginRefused,
		"Google did not accept the username and password (Google takes an app password here, not the account's own password)", doGoogle}},

	// Yandex.
	{phrases: []string{"does not have access rights to this service"}, known: Known{LoginRefused,
		"Yandex does not let mail programs log in to this account with this password",
		"allow mail programs in Yandex Mail's settings (All settings, Email clients), create an app password for mail (Yandex ID, Security, App passwords) and use it as the password"}},

	// Mail.ru.
	{phrases: []string{"application password is required"}, known: Known{LoginRefused,
		"Mail.ru takes a password for external applications here, not the account's own password",
		"create one in the Mail.ru account settings (Security, Passwords for external applications) and use it as the password"}},
	{phrases: []string{"ratelimit exceeded"}, known: Known{RateLimit,
		"the account sends faster than the server allows", doLater}},
}

// recognizeGeneric recognizes what other servers say of quotas and
// rates, in the words they share: "daily ... quota exceeded", a 4.7.x
// (RFC 3463: security or policy status) that speaks of a rate.
func recognizeGeneric(enhanced, text string) Known {
	exceeded := strings.Contains(text, "exceeded") || strings.Contains(text, "reached")
	limit := strings.Contains(text, "limit") || strings.Contains(text, "quota")
	switch {
	case exceeded && limit && (strings.Contains(text, "daily") || strings.Contains(text, "24-hour") || strings.Contains(text, "24 hour")):
		return Known{DailyQuota, "the account's sending limit for the day is reached", doTomorrow}
	case exceeded && limit && (strings.Contains(text, "hour limit") || strings.Contains(text, "hourly")):
		return Known{RateLimit, "the account's sending limit for the hour is reached", doLater}
	case strings.HasPrefix(enhanced, "4.7.") && strings.Contains(text, "rate") && (limit || exceeded):
		return Known{RateLimit, "the account sends faster than the server allows", doLater}
	}
	return Known{}
}

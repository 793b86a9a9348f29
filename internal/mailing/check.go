package mailing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// NewCampaign returns the campaign of cfg with opts; problems and
// warnings go to notes, a line each, unless opts says where they go. A
// mailing sent before has its letters shown with the Message-IDs they
// were sent with.
func NewCampaign(cfg *config.Config, opts campaign.Options, notes io.Writer) *campaign.Campaign {
	if opts.OnError == nil {
		opts.OnError = func(err error) { fmt.Fprintln(notes, err) }
	}
	if opts.OnWarning == nil {
		opts.OnWarning = func(err error) { fmt.Fprintf(notes, "warning: %v\n", err) }
	}
	if opts.Secret == nil {
		// A damaged secret is send's to say.
		opts.Secret, _ = campaignSecret(context.Background(), cfg)
	}
	return campaign.New(cfg, opts)
}

// Check checks the config, every row and every letter, sending nothing:
// problems and warnings go to notes, a line each. With transport set, it
// checks the transport settings too (CheckTransport), with the rows, so
// that one run names every problem; the rows' decide the error. The
// summary's warnings count the transport's. A config with no transport
// at all is one warning (NoTransport says it): the letters can be
// checked before anyone knows where they will go. The pages letters
// attach as PDF are printed, every letter's or, with sample > 0, the
// first sample letters', so that their sizes are checked and a browser
// is known to print them.
//
// Letters that wait for their send time (recipients.send_after) are
// noted, with the first of those times.
func Check(ctx context.Context, cfg *config.Config, sel *selection.Selection, transport bool, sample int, notes io.Writer) (campaign.Summary, error) {
	return check(ctx, cfg, sel, transport, sample, notes, time.Now)
}

// check is Check with a clock.
func check(ctx context.Context, cfg *config.Config, sel *selection.Selection, transport bool, sample int, notes io.Writer, now func() time.Time) (campaign.Summary, error) {
	warnings, transportErr := 0, error(nil)
	if transport && NoTransport(cfg) != nil {
		warnings = 1
	} else if transport {
		warnings, transportErr = CheckTransport(cfg, notes)
		if transportErr != nil {
			fmt.Fprintf(notes, "mailmerge: %v\n", transportErr)
		}
	}
	at := now()
	var held campaign.Plan
	printer := newPrinter(cfg)
	defer printer.Close()
	c := NewCampaign(cfg, campaign.Options{Select: sel, Printer: printer, Now: now}, notes)
	pg := newPages(ctx, c, cfg, sample, notes)
	sum, err := c.Check(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		if l.Held(at) {
			held.Held++
			if held.HeldFirst.IsZero() || l.SendAfter.Before(held.HeldFirst) {
				held.HeldFirst = l.SendAfter
			}
		}
		return pg.add(l)
	})
	if err = pg.wait(&sum, err); err != nil && !errors.Is(err, campaign.ErrProblems) {
		return sum, printError(cfg, err)
	}
	if err := Problems(sum, err); err != nil {
		return sum, err
	}
	if held.Held > 0 {
		fmt.Fprintf(notes, "note: %s; send --wait waits for them, a plain send leaves them for a later one\n", heldWords(held, at))
	}
	if err := NoneChosen(sel, sum); err != nil {
		return sum, err
	}
	if transportErr != nil {
		return sum, &Error{Kind: Config, Err: transportErr, Quiet: true}
	}
	sum.Warnings += warnings
	return sum, nil
}

// NoTransport is what a config that names nowhere to send letters (no
// smtp:, accounts: or maildir:) lacks for send, or nil. For check it is
// a warning, said after the letters' summary; for send, an error.
func NoTransport(cfg *config.Config) error {
	if cfg.CheckTransport() == nil {
		return nil
	}
	return fmt.Errorf("send will need smtp: (a server), accounts: (several) or maildir: (a folder to write the letters into); %s has none", filepath.Base(cfg.File))
}

// CheckTransport checks, without connecting, what send needs of the
// transport settings; warnings go to notes. A password not found is a
// warning: on a terminal, send asks for it.
func CheckTransport(cfg *config.Config, notes io.Writer) (warnings int, err error) {
	if err := cfg.CheckTransport(); err != nil {
		return 0, err
	}
	// Config warnings (a password file others can read) were said as the
	// config was read: they count here.
	warnings = len(cfg.LooseSecrets()) + len(cfg.ProviderWarnings())
	if len(cfg.Accounts) == 0 && (cfg.SMTP.Auth == config.OAuth || cfg.IMAP.Host != "" && cfg.IMAP.Auth == config.OAuth) {
		if _, err := tokens(context.Background(), cfg); err != nil {
			fmt.Fprintf(notes, "warning: %v: run mailmerge login before send\n", errors.Unwrap(err))
			warnings++
		}
	}
	if cfg.IMAP.Host != "" && cfg.IMAP.Auth != config.OAuth {
		if _, err := cfg.IMAPPassword(nil); err != nil {
			if cfg.IMAP.PasswordFile != "" {
				return warnings, err
			}
			fmt.Fprintf(notes, "warning: %v (bounces and imap.save_copies need it; on a terminal, they ask for it)\n", err)
			warnings++
		}
	}
	if cfg.Maildir.Path != "" {
		return warnings, nil
	}
	for _, a := range cfg.Senders() {
		n, err := checkLogin(cfg.ForAccount(a), a.Name, notes)
		warnings += n
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// checkLogin checks, without connecting, the TLS settings and the login
// of one account; a password not found is a warning.
func checkLogin(cfg *config.Config, name string, notes io.Writer) (warnings int, err error) {
	if _, err := cfg.TLSConfig(); err != nil {
		return 0, err
	}
	if cfg.SMTP.Auth == config.OAuth {
		if name != "" { // the one of smtp: is checked with imap's
			if _, err := tokens(context.Background(), cfg); err != nil {
				fmt.Fprintf(notes, "warning: account %s: %v: run mailmerge login --account %s before send\n", name, errors.Unwrap(err), name)
				return 1, nil
			}
		}
		return 0, nil
	}
	if _, err := cfg.Password(nil); err != nil {
		if cfg.SMTP.PasswordFile != "" {
			return 0, err
		}
		fmt.Fprintf(notes, "warning: %v (on a terminal, send asks for it)\n", err)
		return 1, nil
	}
	return 0, nil
}

// ServerCheck is what CheckServer learned: the server, and the OAuth2
// login it was logged in with (nil for a password).
type ServerCheck struct {
	*sender.ServerInfo
	Login *Signed
}

// CheckServer connects to the configured SMTP server as send would, logs
// in, says QUIT and returns what it learned; it sends nothing.
func CheckServer(ctx context.Context, cfg *config.Config, ask Prompt) (*ServerCheck, error) {
	if err := cfg.CheckTransport(); err != nil {
		return nil, fail(Config, err)
	}
	if cfg.SMTP.Host == "" {
		return nil, fail(Config, cfg.KeyErr("smtp.host", errors.New("check --smtp: no SMTP server is configured (letters go into maildir.path)")))
	}
	transport, err := smtpTransport(cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := credentials(ctx, cfg, transport, ask); err != nil {
		return nil, err
	}
	info, err := transport.Check(ctx)
	if err != nil {
		return nil, RunError(err, "")
	}
	out := &ServerCheck{ServerInfo: info}
	if cfg.SMTP.Auth == config.OAuth {
		// After the login: a token renewed on the way is the one shown.
		src, err := tokens(ctx, cfg)
		if err != nil {
			return nil, err
		}
		c, _ := OAuthClient(cfg)
		out.Login = &Signed{Status: src.Status(), Server: host(c.TokenURL)}
	}
	return out, nil
}

// MailboxInfo is what CheckMailbox learned of the IMAP server.
type MailboxInfo struct {
	Server  mailbox.Server
	Elapsed time.Duration // to connect and log in
	Folders []string      // the folders looked at
	Counts  []uint32      // the messages each holds
}

// CheckMailbox logs in to the IMAP server as bounces and Sent copies
// would, and looks at the folders they use: nothing is read or changed.
func CheckMailbox(ctx context.Context, cfg *config.Config, ask Prompt) (*MailboxInfo, error) {
	server, err := MailboxServer(ctx, cfg, ask)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	mb, err := mailbox.Dial(ctx, server)
	if err != nil {
		return nil, MailboxError(err)
	}
	defer mb.Close()
	info := &MailboxInfo{Server: server, Elapsed: time.Since(start), Folders: []string{cfg.IMAP.Mailbox}}
	if cfg.IMAP.SaveCopies {
		info.Folders = append(info.Folders, cfg.IMAP.SentFolder)
	}
	for _, f := range info.Folders {
		n, err := mb.Examine(ctx, f)
		if err != nil {
			return nil, MailboxError(err)
		}
		info.Counts = append(info.Counts, n)
	}
	return info, nil
}

// ServerLines says, a line each, what CheckServer learned of a server:
// how it was reached, its greeting, its TLS and certificate, its
// extensions, size limit and logins.
func ServerLines(info *sender.ServerInfo) []string {
	first := fmt.Sprintf("%s (%s): connected", info.Addr, info.Security.Words())
	if info.User != "" {
		first += " and logged in as " + info.User
	}
	out := []string{first + fmt.Sprintf(" in %d ms; nothing was sent", info.Elapsed.Milliseconds()),
		"  greeting:   " + strings.ReplaceAll(info.Greeting, "\n", " ")}
	if st := info.TLS; st != nil {
		line := fmt.Sprintf("  TLS:        %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		if len(st.PeerCertificates) > 0 {
			c := st.PeerCertificates[0]
			names := c.DNSNames
			if len(names) == 0 {
				names = []string{c.Subject.CommonName}
			}
			line += fmt.Sprintf("; certificate for %s, issued by %s, valid until %s", strings.Join(names, ", "), c.Issuer.CommonName, c.NotAfter.Format("2006-01-02"))
		}
		out = append(out, line)
	} else {
		out = append(out, "  TLS:        none: letters travel in plain text")
	}
	out = append(out, "  extensions: "+strings.Join(info.Extensions, ", "))
	if info.MaxSize > 0 {
		out = append(out, fmt.Sprintf("  size limit: %s a letter", preview.Size(info.MaxSize)))
	}
	if len(info.Auth) > 0 {
		out = append(out, "  login:      AUTH "+strings.Join(info.Auth, " ")+" offered")
	}
	return out
}

// Lines says, a line each, what CheckServer learned (ServerLines), and
// whose OAuth2 login it used, until when.
func (c *ServerCheck) Lines() []string {
	out := ServerLines(c.ServerInfo)
	if l := c.Login; l != nil {
		until := ""
		if !l.Expiry.IsZero() {
			until = ", the token good until " + l.Expiry.Local().Format("2006-01-02 15:04") + " (mailmerge renews it)"
		}
		out = append(out, fmt.Sprintf("  OAuth2:     logged in as %s at %s, scopes %s%s", l.Username, l.Server, strings.Join(l.Scopes, " "), until))
	}
	return out
}

// String says what CheckMailbox learned, in a line.
func (mi *MailboxInfo) String() string {
	var held []string
	for i, f := range mi.Folders {
		held = append(held, fmt.Sprintf("%s holds %s", f, Plural(int(mi.Counts[i]), "message")))
	}
	server := mi.Server
	return fmt.Sprintf("%s (IMAP, %s): logged in as %s in %d ms; %s; nothing was read or changed",
		net.JoinHostPort(server.Host, strconv.Itoa(server.Port)), strings.ToUpper(string(server.Security)), server.Username, mi.Elapsed.Milliseconds(), strings.Join(held, ", "))
}

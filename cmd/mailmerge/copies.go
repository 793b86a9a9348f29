package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/copies"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// sentFolder is the IMAP side of a send that saves copies of its letters
// (imap.save_copies): nil when it does not.
type sentFolder struct {
	cfg    *config.Config
	server mailbox.Server
}

// openSentFolder logs in to the IMAP server and checks the Sent folder,
// before anything is sent: a wrong password is found now, not after the
// letters went out.
func openSentFolder(cmd *cobra.Command, cfg *config.Config) (*sentFolder, error) {
	if !cfg.IMAP.SaveCopies || cfg.Maildir.Path != "" {
		return nil, nil // copies are of letters sent to a server
	}
	server, err := mailboxServer(cmd, cfg)
	if err != nil {
		return nil, err
	}
	mb, err := mailbox.Dial(cmd.Context(), server)
	if err != nil {
		return nil, mailboxError(err)
	}
	defer mb.Close()
	if _, err := mb.Examine(cmd.Context(), cfg.IMAP.SentFolder); err != nil {
		return nil, mailboxError(err)
	}
	return &sentFolder{cfg: cfg, server: server}, nil
}

// save saves a copy of each letter delivered that has none yet, in CSV
// order, and says how many.
func (f *sentFolder) save(ctx context.Context, out io.Writer, c *campaign.Campaign, j *journal.Journal, dest string) error {
	cp, err := copies.Read(f.cfg.Send.Journal, dest, f.cfg.IMAP.SentFolder)
	if err != nil || cp.Missing() == 0 {
		return err
	}
	// Letters whose rows were removed since keep no copy to save: look
	// for one the list still makes before logging in.
	needed := false
	_, err = c.Envelopes(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		if _, ok := cp.Needs(l.Key); ok {
			needed = true
			return campaign.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, campaign.ErrProblems) {
		return err
	}
	if !needed {
		return nil
	}
	mb, err := mailbox.Dial(ctx, f.server)
	if err != nil {
		return f.failed(mailboxError(err))
	}
	defer mb.Close()
	s := &copies.Saver{Copies: cp, Journal: j, Box: mb, Build: c.BuildAt}
	_, err = c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error { return s.Add(ctx, l) })
	if err == nil || errors.Is(err, campaign.ErrProblems) {
		err = s.Flush(ctx)
	}
	if s.Saved+s.Found > 0 {
		fmt.Fprintf(out, "saved a copy of %s in %s\n", plural(s.Saved+s.Found, "letter"), f.cfg.IMAP.SentFolder)
	}
	if err != nil {
		return f.failed(mailboxError(err))
	}
	return nil
}

func (f *sentFolder) failed(err error) error {
	ee := &exitError{code: exitUnavailable, err: err}
	errors.As(err, &ee)
	ee.hint = "the letters were sent; run send again to save the copies still missing"
	return ee
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

func newCheckCmd() *cobra.Command {
	var smtp bool
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the config, every row and every letter; send nothing",
		Long: `check reads the config, the template and every row of the recipients file,
fills in every letter (headers, body, attachments found) without sending or
writing anything, and prints every problem as file:line[:column]: message.
On success it prints what would be sent.

--smtp also connects to the SMTP server as send would (TLS or STARTTLS,
login), prints what the server offers, and says QUIT: nothing is sent.
With an imap: section it also logs in to the IMAP server, as bounces and
Sent copies would, and looks at imap.mailbox and (with imap.save_copies)
imap.sent_folder: nothing is read or changed.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := rf.selection()
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			if smtp {
				if err := checkServer(cmd, cfg); err != nil {
					return err
				}
			}
			// The transport settings are checked with the rows, so one
			// run names every problem; the rows' decide the exit code.
			transportWarnings, transportErr := 0, error(nil)
			if !smtp {
				transportWarnings, transportErr = mailing.CheckTransport(cfg, cmd.ErrOrStderr())
				if transportErr != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "mailmerge: %v\n", transportErr)
				}
			}
			sum, err := mailing.NewCampaign(cfg, campaign.Options{Select: sel}, cmd.ErrOrStderr()).Check(cmd.Context(), func(*letter.Letter, *recipients.Record) error { return nil })
			if err := mailing.Problems(sum, err); err != nil {
				return err
			}
			if err := mailing.NoneChosen(sel, sum); err != nil {
				return err
			}
			if transportErr != nil {
				return &mailing.Error{Kind: mailing.Config, Err: transportErr, Quiet: true}
			}
			sum.Warnings += transportWarnings
			out := cmd.OutOrStdout()
			printSource(out, cfg, sum)
			printSelection(out, sel, sum)
			printSuppressed(out, cfg, sum)
			fmt.Fprintf(out, "%s, %s, %s (%s), %s\n",
				plural(sum.Letters, "letter"), plural(sum.Recipients, "recipient"),
				plural(sum.Attachments, "attachment"), preview.Size(sum.AttachmentBytes), plural(sum.Warnings, "warning"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&smtp, "smtp", false, "also connect to the SMTP server (and the IMAP server, if configured) and log in (sends nothing)")
	rf.add(cmd)
	return cmd
}

func printSource(w io.Writer, cfg *config.Config, sum campaign.Summary) {
	how := "as configured"
	switch {
	case sum.EncodingGuessed:
		how = "guessed: the file is not valid UTF-8"
	case cfg.Recipients.Encoding == "" || cfg.Recipients.Encoding == recipients.Auto:
		how = "detected"
	}
	fmt.Fprintf(w, "%s: %s (%s, %s), delimiter %s\n", cfg.Recipients.File, plural(sum.Rows, "row"),
		sum.Encoding, how, recipients.DelimiterName(sum.Delimiter))
	if sum.EncodingGuessed && sum.Sample != "" {
		// A wrong guess garbles every name: show one to look at.
		fmt.Fprintf(w, "  the first row reads: %s\n", sum.Sample)
		if sum.EncodingWeak {
			fmt.Fprintf(w, "  the file could be windows-1251 or koi8-r: if the row above looks garbled, set recipients.encoding: %s\n", otherCyrillic(sum.Encoding))
		}
	}
}

// otherCyrillic is the Cyrillic encoding that was not guessed.
func otherCyrillic(e recipients.Encoding) recipients.Encoding {
	if e == recipients.KOI8R {
		return recipients.Windows1251
	}
	return recipients.KOI8R
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

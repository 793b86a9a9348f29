package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/preview"
)

func newCheckCmd() *cobra.Command {
	smtp, sample := false, 0
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the config, every row and every letter; send nothing",
		Long:  help("check"),
		Args:  args(cobra.NoArgs),
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
			sum, err := mailing.Check(cmd.Context(), cfg, sel, !smtp, sample, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			printSource(out, cfg, sum)
			printSelection(out, sel, sum)
			printSuppressed(out, cfg, sum)
			fmt.Fprintf(out, "%s, %s, %s (%s)%s, %s\n",
				mailing.Plural(sum.Letters, "letter"), mailing.Plural(sum.Recipients, "recipient"), mailing.Plural(sum.Attachments, "attachment"),
				preview.Size(sum.AttachmentBytes), mailing.PrintedNote(sum), mailing.Plural(sum.Warnings, "warning"))
			if err := mailing.NoTransport(cfg); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&sample, "sample", 0, "print the PDF attachments of the first N letters only (0: all), for speed")
	cmd.Flags().BoolVar(&smtp, "smtp", false, "also connect to the SMTP server (and the IMAP server, if configured) and log in (sends nothing)")
	rf.add(cmd)
	return cmd
}

func printSource(w io.Writer, cfg *config.Config, sum campaign.Summary) {
	fmt.Fprintf(w, "%s: %s %s\n", cfg.Recipients.File, mailing.Plural(sum.Rows, "row"), sum.ReadAs(cfg.Recipients.Encoding))
	if sum.EncodingGuessed && sum.Sample != "" {
		// A wrong guess garbles every name: show one to look at.
		fmt.Fprintf(w, "  the first row reads: %s\n", sum.Sample)
		if sum.EncodingWeak {
			fmt.Fprintf(w, "  the file could be windows-1251 or koi8-r: if the row above looks garbled, set recipients.encoding: %s\n", sum.Encoding.OtherCyrillic())
		}
	}
}

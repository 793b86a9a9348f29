package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

func newPreviewCmd() *cobra.Command {
	var limit int
	var out string
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show the first letters, or write them as .eml files",
		Long: `preview renders the first letters and shows them as a mail program would:
headers and text decoded, attachments listed. --out DIR instead writes each
letter as an .eml file, byte for byte what would be sent (every letter,
unless --limit is given).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError("--limit must not be negative")
			}
			if out != "" && !cmd.Flags().Changed("limit") {
				limit = 0
			}
			sel, err := rf.selection()
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
			}
			stdout := cmd.OutOrStdout()
			var letters, rcpts int
			c := newCampaign(cmd, cfg, campaign.Options{Select: sel})
			sum, err := c.Letters(cmd.Context(), func(l *letter.Letter, _ *recipients.Record) error {
				data, err := c.Build(l)
				if err != nil {
					return err
				}
				if out != "" {
					name := filepath.Join(out, emlName(l))
					if err := os.WriteFile(name, data, 0o644); err != nil {
						return err
					}
					fmt.Fprintln(stdout, name)
				} else {
					if letters > 0 {
						fmt.Fprintln(stdout)
					}
					if err := preview.Write(stdout, l, data); err != nil {
						return err
					}
				}
				letters++
				rcpts += len(l.Recipients)
				if limit > 0 && letters >= limit {
					return campaign.ErrStop
				}
				return nil
			})
			if letters > 0 || err == nil {
				// Say when the limit cut the run short, so "1 letter" is not
				// taken for the size of the mailing.
				more := ""
				switch {
				case limit > 0 && letters >= limit && cmd.Flags().Changed("limit"):
					more = fmt.Sprintf(" (stopped at --limit %d; --limit 0 shows all)", limit)
				case limit == 1 && letters >= limit:
					more = " (the first letter; --limit 0 shows all)"
				case limit > 0 && letters >= limit:
					more = fmt.Sprintf(" (the first %d letters; --limit 0 shows all)", limit)
				}
				fmt.Fprintf(stdout, "\n%s, %s%s\n", plural(letters, "letter"), plural(rcpts, "recipient"), more)
			}
			return problemsError(sum, err)
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 1, "number of letters (0: all)")
	rf.add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "write .eml files into `DIR` instead of showing letters")
	return cmd
}

// emlName names a letter's file by CSV line and first recipient, keeping
// only characters that are safe in file names everywhere.
func emlName(l *letter.Letter) string {
	rcpt := strings.Map(func(r rune) rune {
		if r < 0x20 || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, l.Recipients[0])
	return fmt.Sprintf("%04d-%s.eml", l.Line, rcpt)
}

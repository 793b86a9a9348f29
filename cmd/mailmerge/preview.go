package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

func newPreviewCmd() *cobra.Command {
	var limit int
	var out, gallery string
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show the first letters, or write them as .eml files",
		Long: `preview renders the first letters and shows them as a mail program would:
headers and text decoded, attachments listed. --out DIR instead writes each
letter as an .eml file, byte for byte what would be sent (every letter,
unless --limit is given). --html DIR writes a gallery: DIR/index.html lists
every letter (line, recipients, subject, size, attachments, warnings), each
viewable as its reader will see it; it opens in a browser with no server
and no network.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError("--limit must not be negative")
			}
			if out != "" && gallery != "" {
				return usageError("--out and --html: give one")
			}
			if (out != "" || gallery != "") && !cmd.Flags().Changed("limit") {
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
				if err := os.MkdirAll(out, 0o700); err != nil { // letters are personal data
					return err
				}
			}
			var g *preview.Gallery
			if gallery != "" {
				if g, err = preview.NewGallery(gallery, "Letters of "+cfg.Campaign); err != nil {
					return err
				}
			}
			stdout := cmd.OutOrStdout()
			var letters, rcpts int
			c := mailing.NewCampaign(cfg, campaign.Options{Select: sel}, cmd.ErrOrStderr())
			sum, err := c.Letters(cmd.Context(), func(l *letter.Letter, _ *recipients.Record) error {
				data, err := c.Build(l)
				if err != nil {
					return err
				}
				switch {
				case g != nil:
					if err := g.Add(l, data, strings.TrimSuffix(emlName(l), ".eml")); err != nil {
						return err
					}
				case out != "":
					name := filepath.Join(out, emlName(l))
					if err := writePrivate(name, data); err != nil {
						return err
					}
					fmt.Fprintln(stdout, name)
				default:
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
			printSuppressed(cmd.ErrOrStderr(), cfg, sum)
			if g != nil && letters > 0 {
				if err := g.Close(); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "wrote %s: open it in a browser\n", g.Index())
			}
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
			return mailing.Problems(sum, err)
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 1, "number of letters (0: all)")
	rf.add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "write .eml files into `DIR` instead of showing letters")
	cmd.Flags().StringVar(&gallery, "html", "", "write an HTML gallery of the letters into `DIR` (DIR/index.html)")
	return cmd
}

// emlName names a letter's file by CSV line and first recipient, keeping
// only characters that are safe in file names everywhere. The address is
// cut to maxNameAddr bytes (a valid address may have 254, and file
// systems take 255 bytes a name, the gallery's ".html" included); the
// line keeps the names unique.
func emlName(l *letter.Letter) string {
	rcpt := strings.Map(func(r rune) rune {
		if r < 0x20 || strings.ContainsRune(`/\:*?"<>|#%`, r) { // # and % would break the gallery's links
			return '_'
		}
		return r
	}, l.Recipients[0])
	if len(rcpt) > maxNameAddr {
		cut := maxNameAddr
		for cut > 0 && !utf8.RuneStart(rcpt[cut]) {
			cut--
		}
		rcpt = rcpt[:cut] + "…"
	}
	return fmt.Sprintf("%04d-%s.eml", l.Line, rcpt)
}

const maxNameAddr = 100

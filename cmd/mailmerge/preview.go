package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/preview"
)

func newPreviewCmd() *cobra.Command {
	var limit int
	var out, gallery string
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show the first letters, or write them as .eml files",
		Long:  help("preview"),
		Args:  args(cobra.NoArgs),
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
			started := false // a letter shown on stdout: the next after a blank line
			shown, err := mailing.Preview(cmd.Context(), cfg, sel, limit, cmd.ErrOrStderr(), func(l *letter.Letter, data []byte) error {
				switch {
				case g != nil:
					return g.Add(l, data, strings.TrimSuffix(preview.FileName(l), ".eml"))
				case out != "":
					name := filepath.Join(out, preview.FileName(l))
					if err := mailing.WritePrivate(name, data); err != nil {
						return err
					}
					fmt.Fprintln(stdout, name)
					return nil
				}
				if started {
					fmt.Fprintln(stdout)
				}
				started = true
				return preview.Write(stdout, l, data)
			})
			letters, rcpts, sum := shown.Letters, shown.Recipients, shown.Summary
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
				fmt.Fprintf(stdout, "\n%s, %s%s\n", mailing.Plural(letters, "letter"), mailing.Plural(rcpts, "recipient"), more)
			}
			return err
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 1, "number of letters (0: all)")
	rf.add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "write .eml files into `DIR` instead of showing letters")
	cmd.Flags().StringVar(&gallery, "html", "", "write an HTML gallery of the letters into `DIR` (DIR/index.html)")
	return cmd
}

package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

func newReportCmd() *cobra.Command {
	var failedCSV string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Show what happened to every letter, from the journal",
		Long: `report reads the send journal and the recipients file and prints how many
letters were delivered, failed, deferred, of unknown fate or not sent yet,
then each letter that was not delivered with the server's reply.

--failed-csv FILE writes the recipients rows of those letters, with status,
smtp_code and error columns added, to fix and send again.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			last := map[string]journal.Record{}
			err = journal.Read(cfg.Send.Journal, func(r journal.Record) error {
				last[r.Key] = r
				return nil
			})
			if errors.Is(err, fs.ErrNotExist) {
				return &exitError{code: exitData, err: fmt.Errorf("no journal at %s: nothing has been sent for this campaign", cfg.Send.Journal)}
			}
			if err != nil {
				return err
			}

			var out *csv.Writer
			var outFile *os.File
			if failedCSV != "" {
				if outFile, err = os.Create(failedCSV); err != nil {
					return err
				}
				defer outFile.Close()
				outFile.WriteString("\ufeff") // so spreadsheets read the file as UTF-8
				out = csv.NewWriter(outFile)
				out.Comma = inputDelimiter(cfg) // as the user's spreadsheet wrote it
			}
			csvName := filepath.Base(cfg.Recipients.File)
			counts := map[journal.State]int{}
			total, written := 0, 0
			stdout := cmd.OutOrStdout()
			var problems []string
			seen := map[string]bool{}
			sum, err := newCampaign(cmd, cfg).Letters(cmd.Context(), func(l *template.Letter, rec *recipients.Record) error {
				total++
				seen[l.Key] = true
				r, ok := last[l.Key]
				state := r.Final()
				if !ok || state == journal.Attempt {
					state = "not sent"
				}
				counts[state]++
				for _, rej := range r.Rejected {
					problems = append(problems, fmt.Sprintf("%s:%d: delivered, but refused for %s: %s", csvName, l.Line, rej.Rcpt,
						reply(journal.Record{Phase: "RCPT", Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text})))
				}
				if state == journal.Delivered || state == "not sent" && !ok {
					return nil
				}
				problems = append(problems, fmt.Sprintf("%s:%d: %s %s: %s", csvName, l.Line, state, strings.Join(l.Recipients, ", "), reply(r)))
				if out != nil {
					if written == 0 {
						out.Write(append(append([]string(nil), rec.Header()...), "status", "smtp_code", "error"))
					}
					code := ""
					if r.Code != 0 {
						code = strconv.Itoa(r.Code)
					}
					out.Write(append(append([]string(nil), rec.Fields...), string(state), code, reply(r)))
					written++
				}
				return nil
			})
			if err := problemsError(sum, err); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "delivered %d, failed %d, deferred %d, unknown %d, not sent %d (of %d)\n",
				counts[journal.Delivered], counts[journal.Failed], counts[journal.Deferred], counts[journal.Unknown], counts["not sent"], total)
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			gone := 0
			for k := range last {
				if !seen[k] {
					gone++
				}
			}
			if gone > 0 {
				fmt.Fprintf(stdout, "the journal also has %s no longer in the recipients file (changed or removed rows)\n", plural(gone, "letter"))
			}
			if out != nil {
				out.Flush()
				if err := out.Error(); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "wrote %s to %s\n", plural(written, "row"), failedCSV)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&failedCSV, "failed-csv", "", "write the rows of letters not delivered to `FILE`")
	return cmd
}

// inputDelimiter is the delimiter of the recipients file.
func inputDelimiter(cfg *config.Config) rune {
	enc, _ := recipients.ParseEncoding(cfg.Recipients.Encoding)
	delim, _ := recipients.ParseDelimiter(cfg.Recipients.Delimiter)
	r, err := recipients.Open(cfg.Recipients.File, recipients.Options{Encoding: enc, Delimiter: delim})
	if err != nil {
		return ','
	}
	defer r.Close()
	return r.Delimiter()
}

// reply describes a record's server reply for people.
func reply(r journal.Record) string {
	var b strings.Builder
	if r.Phase != "" {
		fmt.Fprintf(&b, "at %s: ", r.Phase)
	}
	if r.Code != 0 {
		fmt.Fprintf(&b, "%d ", r.Code)
	}
	if r.Enhanced != "" && !strings.HasPrefix(r.Text, r.Enhanced) {
		fmt.Fprintf(&b, "%s ", r.Enhanced)
	}
	b.WriteString(r.Text)
	if r.Final() == journal.Unknown && r.Text == "" {
		b.WriteString("the connection was lost after the letter was sent; it may have been delivered")
	}
	return strings.TrimSpace(b.String())
}

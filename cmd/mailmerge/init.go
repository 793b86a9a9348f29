package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/mailing"
)

// initFiles are the sample mailing that init writes.
//
//go:embed initdata
var initFiles embed.FS

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a sample config, letter template and recipients CSV",
		Long: `init writes mailmerge.yaml, letter.txt and recipients.csv into DIR (default
the current folder), to edit into a mailing of your own. It never overwrites
a file: if any of them exists, it writes nothing.

On a terminal it first asks for your address and name and for the SMTP
server (host, port, security, login name), and writes them into the config
and the letter; Enter takes the default in brackets. Elsewhere it asks
nothing and writes examples to edit.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := "."
			if len(a) == 1 {
				dir = a[0]
			}
			entries, err := fs.ReadDir(initFiles, "initdata")
			if err != nil {
				return err
			}
			var exist []error
			for _, e := range entries {
				if name := filepath.Join(dir, strings.TrimSuffix(e.Name(), ".tmpl")); exists(name) {
					exist = append(exist, fmt.Errorf("%s already exists; not overwriting", name))
				}
			}
			if len(exist) > 0 {
				return &mailing.Error{Kind: mailing.Usage, Err: errors.Join(exist...), Hint: "init writes nothing when any of its files exist; pick an empty folder"}
			}
			answers := defaultSetup
			if isTerminal(cmd.InOrStdin()) {
				if answers, err = ask(cmd.InOrStdin(), cmd.ErrOrStderr()); err != nil {
					return failure(mailing.Usage, fmt.Errorf("init: %w", err))
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, e := range entries {
				data, err := initFiles.ReadFile("initdata/" + e.Name())
				if err != nil {
					return err
				}
				name := filepath.Join(dir, e.Name())
				if base, ok := strings.CutSuffix(name, ".tmpl"); ok {
					var b bytes.Buffer
					if err := template.Must(template.New(e.Name()).Parse(string(data))).Execute(&b, answers); err != nil {
						return err
					}
					name, data = base, b.Bytes()
				}
				f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return err
				}
				_, err = f.Write(data)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "next: edit the files, then run mailmerge check -c %s\n", filepath.Join(dir, "mailmerge.yaml"))
			return nil
		},
	}
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
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
a file: if any of them exists, it writes nothing.`,
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
				if _, err := os.Lstat(filepath.Join(dir, e.Name())); err == nil {
					exist = append(exist, fmt.Errorf("%s already exists; not overwriting", filepath.Join(dir, e.Name())))
				}
			}
			if len(exist) > 0 {
				return &exitError{code: exitUsage, err: errors.Join(exist...), hint: "init writes nothing when any of its files exist; pick an empty folder"}
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

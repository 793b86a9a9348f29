package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/mailing"
)

// passwordPrompt asks for a password on the terminal, without echo; nil
// when standard input is not a terminal.
func passwordPrompt(cmd *cobra.Command) mailing.Prompt {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(user, host string) (string, error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Password for %s at %s: ", user, host)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(pw), err
	}
}

// isTerminal reports whether r (standard input, or an output) is one.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/build"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// readBuildInfo is the build information the binary carries; nil if none.
func readBuildInfo() *debug.BuildInfo { info, _ := debug.ReadBuildInfo(); return info }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mailmerge",
		Short:         "Send one personalised letter to every row of a CSV file",
		Long:          help("mailmerge"),
		Version:       build.Describe(version, readBuildInfo()),
		SilenceUsage:  true,
		SilenceErrors: true,
		// With Args and RunE set, cobra reports an unknown command through
		// Args, where it becomes a usage error (exit 2), not a plain one.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },

		SuggestionsMinimumDistance: 2,
	}
	root.PersistentFlags().StringP("config", "c", "", "config file (default $MAILMERGE_CONFIG, else mailmerge.yaml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	// The exit codes once, in the top-level help (and README), not under
	// every command.
	root.SetHelpTemplate(root.HelpTemplate() + "{{if not .HasParent}}\n" + help("exit-codes") + "{{end}}")
	root.AddCommand(newInitCmd(), newCheckCmd(), newPreviewCmd(), newSendCmd(), newReportCmd(), newBouncesCmd(), newLoginCmd(), newLogoutCmd(), newJournalCmd())
	return root
}

// unknownCommand rejects whatever is left on the command line after the
// subcommands were looked up, as cobra itself would, with its suggestions.
func unknownCommand(cmd *cobra.Command, a []string) error {
	if len(a) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", a[0])
	if s := cmd.SuggestionsFor(a[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	return usageError("%s", msg)
}

// args wraps a cobra argument check so that its error is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError("%s: %v", cmd.Name(), err)
		}
		return nil
	}
}

package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

const exitCodesHelp = `Exit codes:
  0  success
  1  unexpected failure (I/O error, bug)
  2  usage error (bad flags or arguments)
  3  config error (config file, environment)
  4  data error (recipients CSV, template or rows); nothing was sent
  5  send: some letters were refused for good (see mailmerge report)
  6  send: some letters are deferred, of unknown fate or not sent yet; run again later
  7  send: the server rejected the username or password
  8  send: server unavailable, TLS failed, or the server refused letter after letter
  130 interrupted
`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mailmerge",
		Short: "Send one personalised letter to every row of a CSV file",
		Long: `mailmerge renders a letter template for every row of a recipients CSV file
and delivers the letters. Check and preview everything before sending:

  mailmerge init DIR         write a sample config, template and CSV
  mailmerge check            validate every row and render every letter
  mailmerge preview          show the first letter as a mail program would
  mailmerge send             deliver the letters not delivered yet
  mailmerge report           what happened to every letter`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "config file (default $MAILMERGE_CONFIG, else mailmerge.yaml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.SetHelpTemplate(root.HelpTemplate() + "\n" + exitCodesHelp)
	root.AddCommand(newInitCmd(), newCheckCmd(), newPreviewCmd(), newSendCmd(), newReportCmd())
	return root
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

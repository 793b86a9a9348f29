package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
)

// loadConfig reads the config: defaults, then the YAML file, then
// MAILMERGE_* environment variables, then the flags named in flagKeys
// (flag name to config key). config.Decode parses and checks the values.
func loadConfig(cmd *cobra.Command, flagKeys map[string]string) (*config.Config, error) {
	return loadConfigFor(cmd, flagKeys, func(string) bool { return false })
}

// loadConfigFor is loadConfig for a command that does without the keys
// unneeded reports: their problems are not its.
func loadConfigFor(cmd *cobra.Command, flagKeys map[string]string, unneeded func(key string) bool) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("MAILMERGE_CONFIG")
	}
	if path == "" {
		path = "mailmerge.yaml"
	}
	cfg, warnings, err := config.Load(path, cmd.Flags(), flagKeys, unneeded)
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if err != nil {
		return nil, &mailing.Error{Kind: mailing.Config, Err: err, Hint: config.Hint(err)}
	}
	return cfg, nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

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
	configErr := func(err error, hint string) error {
		return &mailing.Error{Kind: mailing.Config, Err: err, Hint: hint}
	}

	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	for k, val := range config.Defaults() {
		v.SetDefault(k, val)
	}
	// Viper's AutomaticEnv does not reach Unmarshal; bind every key.
	for _, k := range config.Keys() {
		if err := v.BindEnv(k, config.EnvName(k)); err != nil {
			return nil, err
		}
	}
	for flag, key := range flagKeys {
		if f := cmd.Flags().Lookup(flag); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, err
			}
		}
	}
	if err := v.ReadInConfig(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, configErr(fmt.Errorf("config file %s not found", path), "pass -c FILE, set MAILMERGE_CONFIG, or run mailmerge init to create one")
		}
		hint := ""
		if strings.Contains(err.Error(), "found character that cannot start any token") {
			hint = "a tab? YAML indents with spaces only"
		}
		return nil, configErr(fmt.Errorf("read config %s: %w", path, err), hint)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Decode(abs, overrides(cmd, flagKeys), func(c *config.Config) error {
		return v.UnmarshalExact(c, viper.DecodeHook(config.DecodeHook()))
	})
	err = config.Unneeded(err, unneeded)
	warnUnknownEnv(cmd.ErrOrStderr())
	if errors.Is(err, config.ErrUnknownKey) {
		return nil, configErr(err, "see config.example.yaml for every key")
	}
	if err != nil {
		return nil, configErr(err, "")
	}
	for _, w := range cfg.LooseSecrets() {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", w)
	}
	return cfg, nil
}

// overrides names the flag or environment variable that set each key,
// so an error about a value points where the user must fix it.
func overrides(cmd *cobra.Command, flagKeys map[string]string) map[string]string {
	m := map[string]string{}
	for _, k := range config.Keys() {
		if os.Getenv(config.EnvName(k)) != "" { // Viper, too, takes an empty variable for unset
			m[k] = "$" + config.EnvName(k)
		}
	}
	for flag, key := range flagKeys {
		if cmd.Flags().Changed(flag) {
			m[key] = "--" + flag
		}
	}
	return m
}

// warnUnknownEnv warns of MAILMERGE_ variables that set nothing (a typo
// in a variable is as easy as in the file, and would pass in silence).
func warnUnknownEnv(w io.Writer) {
	for _, u := range config.UnknownEnv(os.Environ(), func(name string) bool {
		return name == "MAILMERGE_CONFIG" || name == "MAILMERGE_SMTP_PASSWORD" || name == "MAILMERGE_IMAP_PASSWORD" || name == "MAILMERGE_CRASH_SEED" || strings.HasPrefix(name, "MAILMERGE_TEST_")
	}) {
		fmt.Fprintf(w, "warning: %s\n", u)
	}
}

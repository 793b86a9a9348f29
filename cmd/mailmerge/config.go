package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/mailmerge/mailmerge/internal/config"
)

// loadConfig reads the config: defaults, then the YAML file, then
// MAILMERGE_* environment variables, then the flags named in flagKeys
// (flag name to config key), unmarshalled exactly into config.Config.
func loadConfig(cmd *cobra.Command, flagKeys map[string]string) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("MAILMERGE_CONFIG")
	}
	if path == "" {
		path = "mailmerge.yaml"
	}
	configErr := func(err error, hint string) error {
		return &exitError{code: exitConfig, err: err, hint: hint}
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
		return nil, configErr(fmt.Errorf("read config %s: %w", path, err), "")
	}
	cfg := config.Config{File: path, Overrides: overrides(cmd, flagKeys)}
	if err := v.UnmarshalExact(&cfg); err != nil {
		return nil, configErr(unknownKeys(&cfg, err), "see config.example.yaml for every key")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg.File = abs
	cfg.Resolve()
	if err := cfg.Validate(); err != nil {
		return nil, configErr(err, "")
	}
	return &cfg, nil
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

// invalidKeys and badValue match mapstructure's reports of keys that have
// no field and of values of the wrong type.
var (
	invalidKeys = regexp.MustCompile(`'([^']*)' has invalid keys: ([^\n]*)`)
	badValue    = regexp.MustCompile(`'([^']+)' (?:cannot parse value as '([^']+)'|expected type '([^']+)'|(time): invalid duration)`)
)

// unknownKeys turns mapstructure's error into one line per key.
func unknownKeys(cfg *config.Config, err error) error {
	file := filepath.Base(cfg.File)
	matches := invalidKeys.FindAllStringSubmatch(err.Error(), -1)
	var errs []error
	for _, m := range badValue.FindAllStringSubmatch(err.Error(), -1) {
		want := "a " + m[2] + m[3]
		if m[4] != "" || want == "a time.Duration" {
			want = "a duration such as 30s or 10m"
		}
		if want == "a int" {
			want = "a whole number"
		}
		errs = append(errs, &config.KeyError{Source: cfg.Source(m[1]), Key: m[1], Err: fmt.Errorf("want %s", want)})
	}
	if matches == nil && errs == nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for _, m := range matches {
		for _, k := range strings.Split(m[2], ", ") {
			key := k
			if m[1] != "" {
				key = m[1] + "." + k
			}
			msg := errors.New("unknown key")
			if strings.HasSuffix(key, "password") {
				msg = errors.New("unknown key: passwords are not read from the config file; set MAILMERGE_SMTP_PASSWORD or smtp.password_file")
			}
			errs = append(errs, &config.KeyError{Source: file, Key: key, Err: msg})
		}
	}
	return errors.Join(errs...)
}

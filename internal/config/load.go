package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load reads a command's config: the defaults, then the YAML file at
// path, then the MAILMERGE_* environment variables, then the flags of
// flags that flagKeys names (flag name to key). Decode parses and checks
// the values; the problems of keys unneeded reports are not the
// command's. Load returns the warnings (MAILMERGE_ variables that set
// nothing, password files others can read) with the config, and with
// the error too: they are said first.
func Load(path string, flags *pflag.FlagSet, flagKeys map[string]string, unneeded func(key string) bool) (*Config, []string, error) {
	// A typo in $MAILMERGE_CONFIG leaves the file not found: the warning
	// says why, so it goes with every error.
	own := func(name string) bool {
		return name == "MAILMERGE_CONFIG" || name == "MAILMERGE_SMTP_PASSWORD" || name == "MAILMERGE_IMAP_PASSWORD" || name == "MAILMERGE_CRASH_SEED" || name == "MAILMERGE_TOKEN_STORE" || strings.HasPrefix(name, "MAILMERGE_TEST_")
	}
	warnings := UnknownEnv(os.Environ(), own)
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	for k, val := range Defaults() {
		v.SetDefault(k, val)
	}
	// Viper's AutomaticEnv does not reach Unmarshal; bind every key.
	for _, k := range Keys() {
		if err := v.BindEnv(k, EnvName(k)); err != nil {
			return nil, nil, err
		}
	}
	for flag, key := range flagKeys {
		if f := flags.Lookup(flag); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := v.ReadInConfig(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, warnings, &notFoundError{path}
		}
		return nil, warnings, fmt.Errorf("read config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, warnings, err
	}
	cfg, err := Decode(abs, overrides(flags, flagKeys), func(c *Config) error {
		return v.UnmarshalExact(c, viper.DecodeHook(DecodeHook()))
	})
	err = Unneeded(err, unneeded)
	if err != nil {
		return nil, warnings, err
	}
	// A variable the config names for a password (password_env,
	// journal_password_env) is a setting of its own.
	named := cfg.secretEnv()
	warnings = UnknownEnv(os.Environ(), func(name string) bool { return own(name) || named[name] })
	for _, w := range append(cfg.LooseSecrets(), cfg.ProviderWarnings()...) {
		warnings = append(warnings, w.Error())
	}
	return cfg, warnings, nil
}

// Hint says what to do about an error of Load, in plain words; "" when
// the error says it all.
func Hint(err error) string {
	var nf *notFoundError
	switch {
	case errors.As(err, &nf):
		return "pass -c FILE, set MAILMERGE_CONFIG, or run mailmerge init to create one"
	case errors.Is(err, ErrUnknownKey):
		return sectionHint(err)
	case strings.Contains(err.Error(), "found character that cannot start any token"):
		return "a tab? YAML indents with spaces only"
	}
	return ""
}

// notFoundError is a config file that is not there.
type notFoundError struct{ path string }

func (e *notFoundError) Error() string { return fmt.Sprintf("config file %s not found", e.path) }
func (e *notFoundError) Unwrap() error { return fs.ErrNotExist }

// overrides names the flag or environment variable that set each key,
// so an error about a value points where the user must fix it.
func overrides(flags *pflag.FlagSet, flagKeys map[string]string) map[string]string {
	m := map[string]string{}
	for _, k := range Keys() {
		if os.Getenv(EnvName(k)) != "" { // Viper, too, takes an empty variable for unset
			m[k] = "$" + EnvName(k)
		}
	}
	for flag, key := range flagKeys {
		if flags.Changed(flag) {
			m[key] = "--" + flag
		}
	}
	return m
}

// SendOnly reports the keys only a send needs: the SMTP settings beyond
// the server's address, and the sending policy but the journal. The
// commands that read what a send did (report, bounces) do without them:
// Load with SendOnly leaves their problems out.
func SendOnly(key string) bool {
	return strings.HasPrefix(key, "smtp.") && key != "smtp.host" && key != "smtp.port" || strings.HasPrefix(key, "accounts.") ||
		strings.HasPrefix(key, "send.") && key != "send.journal" && key != "send.journal_password_env"
}

// NotLogin reports the keys mailmerge login and logout do without: all
// but those of the login (smtp.provider, smtp.username, smtp.auth,
// smtp.oauth2.*, imap.auth, and each account's).
func NotLogin(key string) bool {
	if rest, ok := strings.CutPrefix(key, "accounts."); ok {
		_, field, _ := strings.Cut(rest, ".")
		key = "smtp." + field // an account's login keys are smtp:'s
	}
	switch key {
	case "smtp.provider", "smtp.username", "smtp.auth", "imap.auth":
		return false
	}
	return !strings.HasPrefix(key, "smtp.oauth2")
}

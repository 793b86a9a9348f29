package config

import (
	"reflect"
	"strings"
)

// Defaults are the values of keys the file leaves out. Paths and values
// that depend on others (campaign, security, journal) are filled by Resolve.
func Defaults() map[string]any {
	return map[string]any{
		"recipients.encoding":          "auto",
		"recipients.delimiter":         "auto",
		"smtp.port":                    587,
		"smtp.password_env":            "MAILMERGE_SMTP_PASSWORD",
		"smtp.dial_timeout":            "30s",
		"smtp.timeout":                 "60s",
		"smtp.data_timeout":            "10m",
		"send.concurrency":             4,
		"send.rate":                    "",
		"send.daily_limit_counts":      CountLetters,
		"send.max_attempts":            3,
		"send.messages_per_connection": 100,
		"send.retry_delay":             "5s",
		"send.lease":                   "1m",
		"send.max_letter_size":         "25MB",
		"send.render_timeout":          "5s",
		"send.test_subject_prefix":     "[TEST] ",
		"imap.security":                "tls",
		"imap.password_env":            "MAILMERGE_IMAP_PASSWORD",
		"imap.mailbox":                 "INBOX",
		"imap.timeout":                 "60s",
		"imap.total_timeout":           "10m",
	}
}

// Keys lists every key a config file may have, dotted ("smtp.host"), so
// the loader can bind each to its MAILMERGE_* environment variable.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "-" || tag == "" {
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				continue // a list of sections (accounts): in the file only
			}
			if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
				walk(f.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

// EnvName is the environment variable that sets a key.
func EnvName(key string) string {
	return "MAILMERGE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

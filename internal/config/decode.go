package config

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// ErrUnknownKey is wrapped by the errors about keys a config may not have.
var ErrUnknownKey = errors.New("unknown key")

// DecodeHook parses the values of a config's typed keys: durations, and
// the types that read themselves from text (encoding.TextUnmarshaler). A
// value that does not parse fails with the type's own message, which
// Decode puts under the key.
func DecodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(durationHook, textHook, mapstructure.StringToSliceHookFunc(","))
}

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() || from.Kind() != reflect.String {
		return data, nil
	}
	d, err := time.ParseDuration(reflect.ValueOf(data).String())
	if err != nil {
		return nil, errors.New("want a duration such as 30s or 10m")
	}
	return d, nil
}

// textHook also takes numbers and booleans, as YAML gives them: rate: 0.
func textHook(from, to reflect.Type, data any) (any, error) {
	if !reflect.PointerTo(to).Implements(textUnmarshaler) || from == to {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
	default:
		return nil, errors.New("want one value, not a list or a section")
	}
	v := reflect.New(to)
	if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(fmt.Sprint(data))); err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

// Decode makes the Config of a mailing: decode fills it (from Viper's
// UnmarshalExact with DecodeHook, or any mapstructure decoder like it);
// then paths are resolved against file and every key is checked. file is
// the config file's absolute path; overrides name the flag or environment
// variable that set a key (Config.Overrides). Every problem is a
// *KeyError, one per key, all of them at once. With problems, the Config
// is returned too, as far as it decoded, for callers that can do without
// some keys (Unneeded).
func Decode(file string, overrides map[string]string, decode func(*Config) error) (*Config, error) {
	c := &Config{File: file, Overrides: overrides, lines: keyLines(file)}
	var errs []error
	failed := map[string]bool{} // keys whose values did not decode
	if err := decode(c); err != nil {
		errs = c.decodeErrors(err)
		for _, e := range errs {
			var ke *KeyError
			if errors.As(e, &ke) {
				failed[ke.Key] = true
			}
		}
	}
	c.Resolve()
	for _, e := range unjoin(c.Validate()) {
		// A value that did not decode is zero here: say what was wrong
		// with it, not what is wrong with zero.
		if ke, ok := e.(*KeyError); !ok || !failedKey(failed, ke.Key) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		// In the file's order, as the user reads it; the others after.
		slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(c.lineOf(a), c.lineOf(b)) })
		return c, errors.Join(errs...)
	}
	return c, nil
}

// Unneeded leaves out of err, as Decode returns it, the problems with keys
// a command does not use (report needs no SMTP settings); nil when none
// is left.
func Unneeded(err error, unneeded func(key string) bool) error {
	var left []error
	for _, e := range unjoin(err) {
		var ke *KeyError
		if errors.As(e, &ke) && unneeded(ke.Key) {
			continue
		}
		left = append(left, e)
	}
	return errors.Join(left...)
}

// lineOf is the line of the file an error is about; past the end for
// one about a flag, a variable or a key the file does not have.
func (c *Config) lineOf(err error) int {
	var ke *KeyError
	if errors.As(err, &ke) {
		if _, line, ok := strings.Cut(ke.Source, filepath.Base(c.File)+":"); ok {
			if n, err := strconv.Atoi(line); err == nil {
				return n
			}
		}
	}
	return math.MaxInt
}

// decodeErrors turns what mapstructure reports into one *KeyError per
// key: unknown keys, values of the wrong type, values that do not parse.
func (c *Config) decodeErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			if inner := de.Unwrap(); hasDecodeError(inner) {
				walk(inner)
			} else {
				out = append(out, c.keyError(de.Name(), inner)...)
			}
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
			return
		}
		out = append(out, fmt.Errorf("%s: %w", filepath.Base(c.File), err))
	}
	walk(err)
	return out
}

// failedKey reports a key that did not decode, or whose section did not.
func failedKey(failed map[string]bool, key string) bool {
	for k := key; ; {
		if failed[k] {
			return true
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			return false
		}
		k = k[:i]
	}
}

// unjoin lists the errors err joins; err alone if it joins none.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func hasDecodeError(err error) bool {
	var de *mapstructure.DecodeError
	return errors.As(err, &de)
}

// keyError says what is wrong with the value of key (or, for a section,
// with the keys in it).
func (c *Config) keyError(key string, err error) []error {
	key = listIndex.ReplaceAllString(key, ".$1") // accounts[0].port: accounts.0.port
	if keys, ok := strings.CutPrefix(err.Error(), "has invalid keys: "); ok {
		var out []error
		for _, k := range strings.Split(keys, ", ") {
			if key != "" {
				k = key + "." + k
			}
			msg := unknownKey(k)
			if name := k[strings.LastIndexByte(k, '.')+1:]; editDistance(name, "password") <= 2 {
				section := "smtp"
				if strings.HasPrefix(k, "imap.") {
					section = "imap"
				}
				msg = fmt.Errorf("%w: passwords are not read from the config file; set MAILMERGE_%s_PASSWORD or %s.password_file", ErrUnknownKey, strings.ToUpper(section), section)
			}
			out = append(out, &KeyError{Source: c.Source(k), Key: k, Err: msg})
		}
		return out
	}
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case strings.HasPrefix(err.Error(), "expected a map"): // mapstructure's words for a value where a section belongs
		err = errors.New("want a section of keys")
	case errors.As(err, &pe):
		err = want(pe.Expected.Type())
	case errors.As(err, &ue):
		err = want(ue.Expected.Type())
	}
	return []error{&KeyError{Source: c.Source(key), Key: key, Err: err}}
}

// listIndex is an index into a list of sections as mapstructure names it.
var listIndex = regexp.MustCompile(`\[(\d+)\]`)

// want says which kind of value a key takes.
func want(t reflect.Type) error {
	if t == reflect.TypeFor[time.Duration]() {
		return errors.New("want a duration such as 30s or 10m")
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return errors.New("want one value, not a list or a section")
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return errors.New("want a whole number")
	case reflect.Bool:
		return errors.New("want true or false")
	case reflect.String:
		return errors.New("want text")
	}
	return fmt.Errorf("want a %s", t)
}

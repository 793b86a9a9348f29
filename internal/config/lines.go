package config

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyLines maps every key of the YAML config file at path (lower case,
// dotted: "smtp.port") to its line, so that a problem is said where the
// user must fix it. A file that does not parse maps nothing: Viper has
// said what is wrong with it.
func keyLines(path string) map[string]int {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	lines := map[string]int{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.SequenceNode {
			// A list of sections (accounts:): each by its index, as
			// decoding names it, and by its name.
			for i, item := range n.Content {
				lines[fmt.Sprintf("%s%d", prefix, i)] = item.Line
				walk(item, fmt.Sprintf("%s%d.", prefix, i))
				for j := 0; item.Kind == yaml.MappingNode && j+1 < len(item.Content); j += 2 {
					if strings.EqualFold(item.Content[j].Value, "name") && item.Content[j+1].Value != "" {
						section := prefix + strings.ToLower(item.Content[j+1].Value)
						lines[section] = item.Line
						walk(item, section+".")
					}
				}
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + strings.ToLower(n.Content[i].Value)
			lines[key] = n.Content[i].Line
			walk(n.Content[i+1], key+".")
		}
	}
	walk(doc.Content[0], "")
	return lines
}

// suggest names the known key closest to an unknown one in its section,
// if one is close enough to be a typo: smtp.pasword → password.
func suggest(key string) string {
	section, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		section, name = key[:i], key[i+1:]
	}
	best, bestDist := "", 3 // at most two edits
	for _, k := range sectionKeys(section) {
		if d := editDistance(name, k); d < bestDist && d < len(k) {
			best, bestDist = k, d
		}
	}
	return best
}

// sectionKeys lists the keys a section of the config takes ("smtp",
// "smtp.oauth2", "accounts.0" for an account; "" for the top level), in
// the order of the Config type, which config.example.yaml follows; nil
// for no section.
func sectionKeys(section string) []string {
	t := reflect.TypeOf(Config{})
	for name := range strings.SplitSeq(section, ".") {
		if section == "" {
			break
		}
		if t.Kind() == reflect.Slice {
			t = t.Elem() // an account of accounts:, by its index or name
			continue
		}
		f, ok := fieldNamed(t, name)
		if !ok {
			return nil
		}
		t = f.Type
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	var out []string
	for _, f := range fields(t) {
		out = append(out, f.Tag.Get("mapstructure"))
	}
	return out
}

// fields are the fields of struct type t that are keys, those of a
// squashed struct (an account's smtp: keys) among them.
func fields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		switch tag := f.Tag.Get("mapstructure"); {
		case tag == ",squash":
			out = append(out, fields(f.Type)...)
		case tag != "" && tag != "-":
			out = append(out, f)
		}
	}
	return out
}

func fieldNamed(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range fields(t) {
		if f.Tag.Get("mapstructure") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// sectionHint lists the keys of each section where err (Load's) found a
// key that is not one and not close to one, so that the user sees the
// right one without a file they may not have; "" when there is none.
func sectionHint(err error) string {
	var lines []string
	seen := map[string]bool{}
	var walk func(err error)
	walk = func(err error) {
		if ke, ok := err.(*KeyError); ok && ke.Err == ErrUnknownKey {
			section := ""
			if i := strings.LastIndexByte(ke.Key, '.'); i >= 0 {
				section = ke.Key[:i]
			}
			keys := sectionKeys(section)
			if seen[section] || keys == nil {
				return
			}
			seen[section] = true
			what := "keys of " + section + ":"
			switch {
			case section == "":
				what = "keys at the top level:"
			case strings.HasPrefix(section, "accounts."):
				what = "keys of an account (accounts:):"
			}
			lines = append(lines, what+" "+strings.Join(keys, ", "))
			return
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return strings.Join(lines, "\n")
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	ar, br := []rune(a), []rune(b)
	prev := make([]int, len(br)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ar); i++ {
		cur := make([]int, len(br)+1)
		cur[0] = i
		for j := 1; j <= len(br); j++ {
			cost := 1
			if ar[i-1] == br[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(br)]
}

// unknownKey is the error for a key a config may not have.
func unknownKey(key string) error {
	if s := suggest(key); s != "" {
		return fmt.Errorf("%w; did you mean %s?", ErrUnknownKey, s)
	}
	return ErrUnknownKey
}

// UnknownEnv says which MAILMERGE_ variables of environ set no key (other
// than those own says are not settings), each with the variable it most
// likely is a typo of. A name in lower case sets nothing either, but on
// Windows, whose names are not case-sensitive.
func UnknownEnv(environ []string, own func(name string) bool) []string {
	known := map[string]bool{}
	names := []string{"MAILMERGE_CONFIG", "MAILMERGE_SMTP_PASSWORD", "MAILMERGE_IMAP_PASSWORD"} // the likely typos' targets
	for _, k := range Keys() {
		known[EnvName(k)] = true
		names = append(names, EnvName(k))
	}
	var out []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if value == "" || !strings.HasPrefix(upper, "MAILMERGE_") || known[name] || own(name) || // empty sets nothing anyway
			runtime.GOOS == "windows" && (known[upper] || own(upper)) {
			continue
		}
		msg := fmt.Sprintf("$%s is not a setting, and is ignored", name)
		if known[upper] || own(upper) {
			out = append(out, msg+fmt.Sprintf("; did you mean $%s? (the names are in capitals)", upper))
			continue
		}
		best, bestDist := "", 3
		for _, n := range names {
			if d := editDistance(upper, n); d < bestDist {
				best, bestDist = n, d
			}
		}
		if best != "" {
			msg += fmt.Sprintf("; did you mean $%s?", best)
		}
		out = append(out, msg)
	}
	slices.Sort(out)
	return out
}

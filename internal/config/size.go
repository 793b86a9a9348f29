package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a number of bytes, written as 25MB, 500KB, 1.5 MB or a plain
// number of bytes.
type Size int64

// UnmarshalText reads a size.
func (s *Size) UnmarshalText(text []byte) error {
	v := strings.ToUpper(strings.TrimSpace(string(text)))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a size like 25MB, 500KB or a number of bytes, got %q", text)
	}
	*s = Size(n * float64(mult))
	return nil
}

// String writes a size the way people read it.
func (s Size) String() string {
	switch {
	case s >= 1<<20:
		return strconv.FormatFloat(float64(s)/(1<<20), 'f', -1, 64) + " MB"
	case s >= 1<<10:
		return strconv.FormatFloat(float64(s)/(1<<10), 'f', -1, 64) + " KB"
	}
	return strconv.FormatInt(int64(s), 10) + " bytes"
}

package letter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Key identifies a letter of a campaign: a hash of the campaign's name and
// the letter's envelope recipients, so that the same letter keeps its Key
// (and Message-ID) across runs and template edits, and a resend is
// recognisably the same message.
type Key [20]byte

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewKey returns the key of a campaign's letter to recipients. Case and
// order of the recipients do not matter. n tells apart letters with the
// same recipients by their order (the first is 0), as journals written
// before ContentKey did; a row whose recipients no other row has is
// NewKey(campaign, recipients, 0).
func NewKey(campaign string, recipients []string, n int) Key {
	return key(campaign, recipients, func(h io.Writer) {
		if n > 0 {
			io.WriteString(h, "\x00#"+strconv.Itoa(n))
		}
	})
}

// ContentKey returns the key of a campaign's letter to recipients that
// other rows have too: the row's fingerprint tells them apart, so that
// deleting, inserting or reordering rows changes no other row's key. dup
// tells apart rows alike in every value (the first is 0).
func ContentKey(campaign string, recipients []string, fp uint64, dup int) Key {
	return key(campaign, recipients, func(h io.Writer) {
		fmt.Fprintf(h, "\x00fp%016x", fp)
		if dup > 0 {
			io.WriteString(h, "\x00#"+strconv.Itoa(dup))
		}
	})
}

// NamedKey returns the key of a campaign's letter for the row a user
// names (recipients.key: a student ID), whatever its recipients.
func NamedKey(campaign, name string) Key {
	return key(campaign, nil, func(h io.Writer) { io.WriteString(h, "\x00key\x00"+name) })
}

// InvalidKey returns the key a campaign records a row under that makes no
// letter (send --skip-invalid): the row's fingerprint, since it may have
// no recipients.
func InvalidKey(campaign string, fp uint64) Key {
	return key(campaign, nil, func(h io.Writer) { fmt.Fprintf(h, "\x00invalid%016x", fp) })
}

// Fingerprint is a hash of a row's values, by field name: what tells a
// row apart from others with the same recipients.
func Fingerprint(values map[string]string) uint64 {
	names := slices.Sorted(maps.Keys(values))
	h := sha256.New()
	for _, n := range names {
		io.WriteString(h, n)
		h.Write([]byte{0})
		io.WriteString(h, values[n])
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func key(campaign string, recipients []string, more func(io.Writer)) Key {
	rcpts := make([]string, len(recipients))
	for i, r := range recipients {
		rcpts[i] = strings.ToLower(r)
	}
	slices.Sort(rcpts)
	h := sha256.New()
	io.WriteString(h, campaign)
	for _, r := range rcpts {
		io.WriteString(h, "\x00"+r)
	}
	more(h)
	var k Key
	copy(k[:], h.Sum(nil))
	return k
}

// String returns the key as the journal and the Message-ID write it: 32
// characters of lower-case base32.
func (k Key) String() string {
	return strings.ToLower(keyEncoding.EncodeToString(k[:]))
}

// MessageID returns the letter's Message-ID, with angle brackets: its key
// at the given domain.
func (k Key) MessageID(domain string) string {
	if domain == "" {
		domain = "mailmerge.invalid"
	}
	return "<" + k.String() + "@" + domain + ">"
}

// Tag returns the key's tag under a campaign's secret: 16 characters of
// lower-case base32 of HMAC-SHA256(secret, key). Only who holds the
// secret can make it, so a delivery report that carries a letter's tag
// is about a letter that was sent, not one whose identity was computed
// from the campaign's name and an address.
func (k Key) Tag(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(k[:])
	return strings.ToLower(keyEncoding.EncodeToString(m.Sum(nil)[:10]))
}

// Names reports whether messageID is the Message-ID of the letter with
// key as a mailing sends it: <key@domain>, or <key.tag@domain> with the
// tag of any copy's secret; never a test copy's (<….test@domain>).
func (k Key) Names(messageID string) bool {
	local, _, ok := strings.Cut(strings.Trim(strings.TrimSpace(messageID), "<>"), "@")
	if !ok {
		return false
	}
	local = strings.ToLower(local)
	rest, ok := strings.CutPrefix(local, k.String())
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	tag, ok := strings.CutPrefix(rest, ".")
	if !ok || len(tag) != 16 {
		return false
	}
	_, err := keyEncoding.DecodeString(strings.ToUpper(tag))
	return err == nil
}

// MarshalText writes the key as String does.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a key written by MarshalText.
func (k *Key) UnmarshalText(text []byte) error {
	b, err := keyEncoding.DecodeString(strings.ToUpper(string(text)))
	if err != nil || len(b) != len(k) {
		return fmt.Errorf("not a letter key: %q", text)
	}
	copy(k[:], b)
	return nil
}

package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Secret returns the campaign's secret kept beside the journal at path
// (path + ".secret", readable by its owner alone): the key of the tags
// that make its letters' Message-IDs and ENVIDs impossible to forge
// (letter.Tag). With create, a missing secret is made (32 random bytes);
// without, a missing one is nil, nil (a mailing not sent yet, or sent
// before secrets: its letters keep untagged identities).
func Secret(path string, create bool) ([]byte, error) {
	name := path + ".secret"
	if err := regular(name); err != nil {
		return nil, err
	}
	b, err := readSecret(name)
	switch {
	case err == nil:
		secret, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(secret) < 16 {
			return nil, fmt.Errorf("the mailing's secret %s is damaged (want 64 hexadecimal digits): restore it from a backup, or remove it and send again (reports of the letters sent so far are then no longer matched)", name)
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read the mailing's secret: %w", err)
	case !create:
		return nil, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return place(path, secret)
}

// SetSecret keeps secret as the campaign's secret beside the journal at
// path, as Secret makes one: for a journal moved here from elsewhere
// (journal import). A secret already there is kept; it must be the same.
func SetSecret(path string, secret []byte) error {
	got, err := place(path, secret)
	if err == nil && !bytes.Equal(got, secret) {
		err = fmt.Errorf("the mailing's secret %s.secret is there already, and is another: move it aside first", path)
	}
	return err
}

// place writes secret as the secret beside the journal at path, unless
// one is there, and returns the one there then.
func place(path string, secret []byte) ([]byte, error) {
	name := path + ".secret"
	// Written whole under another name, then linked into place: a reader
	// never sees half a secret, and of two sends at once one secret wins.
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*")
	if err != nil {
		return nil, fmt.Errorf("make the mailing's secret: %w", err)
	}
	defer os.Remove(f.Name())
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), name)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// No hard links here (FAT, exFAT, some shares): made in place,
			// and only if still missing, since the shards of a split
			// (send --shard) share the secret and may start at once; in
			// one write, whose end a reader waits for (readSecret).
			err = createSecret(name, hex.EncodeToString(secret)+"\n")
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return Secret(path, false)
	}
	if err != nil {
		return nil, fmt.Errorf("make the mailing's secret: %w", err)
	}
	return secret, nil
}

// createSecret writes text into a new file at name, only its owner may
// read; an existing one is left alone (fs.ErrExist).
func createSecret(name, text string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// readSecret reads the secret file at name. A secret is written in one
// line: a short one without its end, all of it hexadecimal digits, is
// being written (createSecret, by a shard starting at the same time),
// and is read again, for up to a second.
func readSecret(name string) ([]byte, error) {
	for range 20 {
		b, err := os.ReadFile(name)
		if err != nil || len(b) >= 64 || strings.HasSuffix(string(b), "\n") || strings.Trim(string(b), "0123456789abcdef") != "" {
			return b, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return os.ReadFile(name)
}

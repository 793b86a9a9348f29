package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/oauth2"
)

// FileStore keeps each account's tokens in a file of its own, readable
// and writable by the user alone (0600), in a folder only the user may
// enter (0700). It refuses a folder or a file that others may read: the
// tokens log in to the user's mailbox. On Windows, where files have no
// such modes, the folder is in the user's profile, which only they (and
// administrators) may read.
type FileStore struct {
	dir string
}

// maxTokenFile caps what Load reads: a token file is a few kilobytes.
const maxTokenFile = 64 << 10

// NewFileStore returns a store in dir, or, for "", in mailmerge/tokens
// under the user's configuration directory (os.UserConfigDir). The folder
// is made by the first Save.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		config, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("token store: %w", err)
		}
		dir = filepath.Join(config, "mailmerge", "tokens")
	}
	return &FileStore{dir: dir}, nil
}

// Dir is the folder the tokens are in.
func (f *FileStore) Dir() string { return f.dir }

// path is the account's file: its user name (for a reader of the folder)
// and a digest of the whole account.
func (f *FileStore) path(a Account) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '@', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, a.Username)
	if len(name) > 64 {
		name = name[:64]
	}
	return filepath.Join(f.dir, name+"-"+a.id()+".json")
}

// fileRecord is a token file: the record, and the account it is for, so
// that a person who opens the folder can tell the files apart.
type fileRecord struct {
	Username string `json:"username"`
	ClientID string `json:"client_id"`
	TokenURL string `json:"token_url"`
	record
}

// Load reads the account's tokens.
func (f *FileStore) Load(a Account) (*oauth2.Token, error) {
	if err := f.checkDir(); err != nil {
		return nil, err
	}
	path := f.path(a)
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	defer file.Close()
	if err := checkPrivate(file, path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if len(data) > maxTokenFile {
		return nil, fmt.Errorf("token file %s: more than %d bytes", path, maxTokenFile)
	}
	var r fileRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("token file %s: not a token file (delete it and run mailmerge login)", path)
	}
	if r.Username != a.Username || r.ClientID != a.ClientID || r.TokenURL != a.TokenURL {
		return nil, ErrNotLoggedIn
	}
	if err := r.valid(); err != nil {
		return nil, fmt.Errorf("token file %s: %w (delete it and run mailmerge login)", path, err)
	}
	return r.token(), nil
}

// Save writes the account's tokens to a new file that then replaces the
// old one, so that a crash leaves the old tokens or the new, whole.
func (f *FileStore) Save(a Account, t *oauth2.Token) error {
	if _, err := encodeToken(t); err != nil {
		return err
	}
	data, err := json.Marshal(fileRecord{Username: a.Username, ClientID: a.ClientID, TokenURL: a.TokenURL, record: toRecord(t)})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	if err := f.checkDir(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, ".token-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is none
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path(a)); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

// Delete removes the account's file.
func (f *FileStore) Delete(a Account) error {
	err := os.Remove(f.path(a))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotLoggedIn
	}
	if err != nil {
		return fmt.Errorf("delete token file: %w", err)
	}
	return nil
}

// checkDir refuses a folder that others may enter or read. A folder that
// does not exist holds no tokens, and is fine.
func (f *FileStore) checkDir() error {
	info, err := os.Stat(f.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("token store %s: not a folder", f.dir)
	}
	if perm := info.Mode().Perm(); ownerOnlyModes && perm&0o077 != 0 {
		return fmt.Errorf("token store %s: others may read this folder (mode %04o): run chmod 700 %s, or remove it and run mailmerge login", f.dir, perm, f.dir)
	}
	return nil
}

// checkPrivate refuses a token file that others may read or write.
func checkPrivate(file *os.File, path string) error {
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("token file %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); ownerOnlyModes && perm&0o077 != 0 {
		return fmt.Errorf("token file %s: others may read it (mode %04o): run chmod 600 %s, or remove it and run mailmerge login", path, perm, path)
	}
	return nil
}

// ownerOnlyModes says whether file modes say who may read a file. On
// Windows, Go makes them up from the read-only attribute.
const ownerOnlyModes = runtime.GOOS != "windows"

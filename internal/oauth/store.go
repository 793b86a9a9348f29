package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrNotLoggedIn is the error of a store that holds no tokens for an
// account.
var ErrNotLoggedIn = errors.New("not logged in; run mailmerge login")

// Store keeps the tokens of accounts between runs. Load returns
// ErrNotLoggedIn for an account it has none of, and so does Delete.
type Store interface {
	Load(a Account) (*oauth2.Token, error)
	Save(a Account, t *oauth2.Token) error
	Delete(a Account) error
}

// Store kinds, for [StoreOptions] and MAILMERGE_TOKEN_STORE.
const (
	StoreFile    = "file"
	StoreKeyring = "keyring"
)

// StoreOptions choose a store.
type StoreOptions struct {
	// Kind is StoreFile, StoreKeyring, or "" for the operating system's
	// credential store where it works and files elsewhere.
	Kind string
	// Dir is the file store's folder; "" means the tokens folder of
	// mailmerge's folder in the user's configuration directory.
	Dir string
}

// NewStore returns the store mailmerge keeps tokens in: the one that
// MAILMERGE_TOKEN_STORE (file or keyring) names, else that of [OpenStore]
// with no options.
func NewStore() (Store, error) {
	return OpenStore(StoreOptions{Kind: os.Getenv("MAILMERGE_TOKEN_STORE")})
}

// OpenStore returns the store that o chooses. With no Kind, it is the
// operating system's credential store if a look-up in it works now
// (Windows Credential Manager, the macOS Keychain, a Secret Service on
// the session's D-Bus), with files for what does not fit in it and for
// tokens saved where it did not work; else it is files.
func OpenStore(o StoreOptions) (Store, error) {
	switch strings.ToLower(strings.TrimSpace(o.Kind)) {
	case StoreFile:
		return NewFileStore(o.Dir)
	case StoreKeyring:
		return NewKeyringStore(), nil
	case "":
		files, err := NewFileStore(o.Dir)
		if err != nil {
			return nil, err
		}
		ring := NewKeyringStore()
		if !ring.works(keyringProbeTimeout) {
			return files, nil
		}
		return &keyringAndFiles{ring: ring, files: files}, nil
	}
	return nil, fmt.Errorf("token store %q: want %s or %s", o.Kind, StoreFile, StoreKeyring)
}

// keyringProbeTimeout bounds the look-up that decides whether the
// credential store works: a Secret Service may wait for the user to
// unlock it.
const keyringProbeTimeout = 20 * time.Second

// keyringAndFiles keeps tokens in the credential store, and in files
// those it refuses as too big. It reads both: tokens saved where the
// credential store did not work (an SSH session) are found at the
// desktop.
type keyringAndFiles struct {
	ring  *KeyringStore
	files *FileStore
}

func (k *keyringAndFiles) Load(a Account) (*oauth2.Token, error) {
	t, err := k.ring.Load(a)
	if errors.Is(err, ErrNotLoggedIn) {
		return k.files.Load(a)
	}
	return t, err
}

// Save saves t in the credential store and forgets the account's file,
// whose refresh token may be spent; what the credential store refuses
// as too big goes to a file instead.
func (k *keyringAndFiles) Save(a Account, t *oauth2.Token) error {
	err := k.ring.Save(a, t)
	if errors.Is(err, errTooBig) {
		if err := k.files.Save(a, t); err != nil {
			return err
		}
		if err := k.ring.Delete(a); err != nil && !errors.Is(err, ErrNotLoggedIn) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if err := k.files.Delete(a); err != nil && !errors.Is(err, ErrNotLoggedIn) {
		return err
	}
	return nil
}

func (k *keyringAndFiles) Delete(a Account) error {
	errRing, errFiles := k.ring.Delete(a), k.files.Delete(a)
	switch {
	case errRing != nil && !errors.Is(errRing, ErrNotLoggedIn):
		return errRing
	case errFiles != nil && !errors.Is(errFiles, ErrNotLoggedIn):
		return errFiles
	case errRing != nil && errFiles != nil:
		return ErrNotLoggedIn
	}
	return nil
}

// record is a token as stored: compact, for Windows Credential Manager
// holds at most 2,560 bytes in a secret. It keeps the granted scopes,
// which the token response gives and check --smtp shows.
type record struct {
	Access  string `json:"a,omitempty"`
	Refresh string `json:"r,omitempty"`
	Type    string `json:"t,omitempty"` // omitted for Bearer
	Expiry  int64  `json:"e,omitempty"` // Unix seconds; 0 for none
	Scope   string `json:"s,omitempty"`
}

func toRecord(t *oauth2.Token) record {
	r := record{Access: t.AccessToken, Refresh: t.RefreshToken, Type: t.TokenType}
	if strings.EqualFold(r.Type, "bearer") {
		r.Type = ""
	}
	if !t.Expiry.IsZero() {
		r.Expiry = t.Expiry.Unix()
	}
	r.Scope, _ = t.Extra("scope").(string)
	return r
}

func (r record) token() *oauth2.Token {
	t := &oauth2.Token{AccessToken: r.Access, RefreshToken: r.Refresh, TokenType: r.Type}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if r.Expiry != 0 {
		t.Expiry = time.Unix(r.Expiry, 0)
	}
	if r.Scope != "" {
		t = t.WithExtra(map[string]any{"scope": r.Scope})
	}
	return t
}

func (r record) valid() error {
	if r.Access == "" && r.Refresh == "" {
		return errors.New("no token in it")
	}
	return nil
}

// encodeToken is t as a record in JSON.
func encodeToken(t *oauth2.Token) ([]byte, error) {
	if t == nil || t.AccessToken == "" && t.RefreshToken == "" {
		return nil, errors.New("no token to save")
	}
	return json.Marshal(toRecord(t))
}

// decodeToken reads a record in JSON. Its errors never quote the data.
func decodeToken(data []byte) (*oauth2.Token, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errors.New("not a token record")
	}
	if err := r.valid(); err != nil {
		return nil, err
	}
	return r.token(), nil
}

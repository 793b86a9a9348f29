package oauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/oauth2"
)

var account = Account{TokenURL: "https://login.example/organizations/oauth2/v2.0/token", ClientID: "0f3c9a1e-client", Username: "kafedra@univ.example"}

// msToken is a token of the sizes Microsoft gives: a JWT access token of
// about 2.5 KB and a refresh token of about 1.6 KB, more together than
// Windows Credential Manager takes in one secret.
func msToken() *oauth2.Token {
	t := &oauth2.Token{
		AccessToken:  "eyJ0eXAiOiJKV1Qi." + strings.Repeat("A", 2500),
		RefreshToken: "0.AQwA" + strings.Repeat("r", 1600),
		TokenType:    "Bearer",
		Expiry:       time.Unix(1_800_000_000, 0),
	}
	return t.WithExtra(map[string]any{"scope": "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"})
}

func smallToken(access string) *oauth2.Token {
	return &oauth2.Token{AccessToken: access, RefreshToken: "refresh-" + access, TokenType: "bearer", Expiry: time.Unix(1_800_000_000, 0)}
}

func sameToken(t *testing.T, got, want *oauth2.Token) {
	t.Helper()
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || !got.Expiry.Equal(want.Expiry) || got.TokenType != "Bearer" {
		t.Fatalf("loaded token: access %d chars, refresh %d chars, expiry %v, type %q; want %d, %d, %v, Bearer",
			len(got.AccessToken), len(got.RefreshToken), got.Expiry, got.TokenType, len(want.AccessToken), len(want.RefreshToken), want.Expiry)
	}
	if got.Extra("scope") != want.Extra("scope") {
		t.Fatalf("loaded scope %q, want %q", got.Extra("scope"), want.Extra("scope"))
	}
}

func TestRecordIsCompact(t *testing.T) {
	tok := msToken()
	data, err := encodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	scope, _ := tok.Extra("scope").(string)
	overhead := len(data) - len(tok.AccessToken) - len(tok.RefreshToken) - len(scope)
	if overhead > 40 {
		t.Errorf("a record takes %d bytes besides the tokens and scope: %.80s…", overhead, data)
	}
	back, err := decodeToken(data)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, back, tok)
	for _, bad := range []string{"", "{}", "not json", `{"a":`} {
		if _, err := decodeToken([]byte(bad)); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("decode %q: %v", bad, err)
		}
	}
	if _, err := encodeToken(&oauth2.Token{}); err == nil {
		t.Error("an empty token was encoded")
	}
}

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mailmerge", "tokens")
	store, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("load before any save: %v, want ErrNotLoggedIn", err)
	}
	if err := store.Delete(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("delete before any save: %v, want ErrNotLoggedIn", err)
	}

	tok := msToken()
	if err := store.Save(account, tok); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(account)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "kafedra@univ.example-") {
		t.Fatalf("the folder holds %v, want one file named for the user", entries)
	}
	file := filepath.Join(dir, entries[0].Name())
	if runtime.GOOS != "windows" {
		for path, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != want {
				t.Errorf("%s: mode %04o, want %04o", path, got, want)
			}
		}
	}

	// Another application, or another server, is another account.
	other := account
	other.ClientID = "another-client"
	if _, err := store.Load(other); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("load another account: %v, want ErrNotLoggedIn", err)
	}
	if err := store.Save(other, smallToken("other")); err != nil {
		t.Fatal(err)
	}

	// A new token replaces the old one whole, leaving no temporary file.
	next := smallToken("next")
	if err := store.Save(account, next); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Load(account); err != nil {
		t.Fatal(err)
	} else {
		sameToken(t, got, next)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("the folder holds %v, want two token files", entries)
	}

	if err := store.Delete(account); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("load after delete: %v, want ErrNotLoggedIn", err)
	}
	if got, err := store.Load(other); err != nil || got.AccessToken != "other" {
		t.Fatalf("the other account after deleting the first: %v", err)
	}
}

func TestFileStoreRefusesWhatOthersMayRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows files have no Unix modes")
	}
	dir := filepath.Join(t.TempDir(), "tokens")
	store, _ := NewFileStore(dir)
	if err := store.Save(account, smallToken("a")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	file := filepath.Join(dir, entries[0].Name())

	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := store.Load(account)
	if err == nil || !strings.Contains(err.Error(), "others may read it (mode 0644)") || !strings.Contains(err.Error(), "chmod 600 "+file) {
		t.Fatalf("load a file of mode 0644: %v", err)
	}
	os.Chmod(file, 0o600)

	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for op, err := range map[string]error{
		"load": func() error { _, err := store.Load(account); return err }(),
		"save": store.Save(account, smallToken("b")),
	} {
		if err == nil || !strings.Contains(err.Error(), "others may read this folder (mode 0755)") || !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Errorf("%s in a folder of mode 0755: %v", op, err)
		}
	}
	os.Chmod(dir, 0o700)
	if got, err := store.Load(account); err != nil || got.AccessToken != "a" {
		t.Fatalf("load after chmod 700: %v", err)
	}

	// A folder made by someone else with a wide umask is refused too.
	wide := filepath.Join(t.TempDir(), "wide")
	if err := os.Mkdir(wide, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(wide, 0o777)
	ws, _ := NewFileStore(wide)
	if err := ws.Save(account, smallToken("a")); err == nil || !strings.Contains(err.Error(), "mode 0777") {
		t.Fatalf("save in a folder of mode 0777: %v", err)
	}
	if entries, _ := os.ReadDir(wide); len(entries) != 0 {
		t.Fatalf("save in a folder of mode 0777 left %v", entries)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	store, _ := NewFileStore(dir)
	if err := store.Save(account, smallToken("secret-access")); err != nil {
		t.Fatal(err)
	}
	path := store.path(account)
	if err := os.WriteFile(path, []byte(`{"username":"kafedra@univ.example","a":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Load(account)
	if err == nil || !strings.Contains(err.Error(), "not a token file") || !strings.Contains(err.Error(), "mailmerge login") {
		t.Fatalf("load a torn file: %v", err)
	}
	big := make([]byte, maxTokenFile+1)
	os.WriteFile(path, big, 0o600)
	if _, err := store.Load(account); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("load a file of %d bytes: %v", len(big), err)
	}
}

// fakeRing is a credential store in memory that refuses secrets longer
// than Windows Credential Manager does, as go-keyring's Windows store
// does.
type fakeRing struct {
	mu      sync.Mutex
	secrets map[string]string
	max     int
	err     error         // of every call, when set
	hang    chan struct{} // Get waits for it to close, when set
}

func newFakeRing() *fakeRing { return &fakeRing{secrets: map[string]string{}, max: maxSecret} }

func (f *fakeRing) Set(service, user, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if len(secret) > f.max {
		return keyring.ErrSetDataTooBig
	}
	f.secrets[service+":"+user] = secret
	return nil
}

func (f *fakeRing) Get(service, user string) (string, error) {
	if f.hang != nil {
		<-f.hang
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	s, ok := f.secrets[service+":"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return s, nil
}

func (f *fakeRing) Delete(service, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.secrets[service+":"+user]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.secrets, service+":"+user)
	return nil
}

func (f *fakeRing) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.secrets {
		out = append(out, k)
	}
	return out
}

func TestKeyringStoreSplitsLongTokens(t *testing.T) {
	ring := newFakeRing()
	store := &KeyringStore{ring: ring, max: maxSecret}
	if _, err := store.Load(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("load before any save: %v, want ErrNotLoggedIn", err)
	}

	tok := msToken()
	data, _ := encodeToken(tok)
	if len(data) <= maxSecret {
		t.Fatalf("the test token takes %d bytes, no more than one secret", len(data))
	}
	if err := store.Save(account, tok); err != nil {
		t.Fatal(err)
	}
	wantParts := (len(data) + maxSecret - 1) / maxSecret
	if n := len(ring.entries()); n != 1+wantParts {
		t.Fatalf("%d bytes are in %d entries, want the account's and %d parts: %v", len(data), n, wantParts, ring.entries())
	}
	got, err := store.Load(account)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)

	// A short token fits in one entry; the old parts go.
	small := smallToken("short")
	if err := store.Save(account, small); err != nil {
		t.Fatal(err)
	}
	if e := ring.entries(); len(e) != 1 || !strings.HasPrefix(e[0], "mailmerge:kafedra@univ.example ") {
		t.Fatalf("after a short token the store holds %v", e)
	}
	if got, err := store.Load(account); err != nil {
		t.Fatal(err)
	} else {
		sameToken(t, got, small)
	}

	// And a long one again, then a logout.
	if err := store.Save(account, tok); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(account); err != nil {
		t.Fatal(err)
	}
	if e := ring.entries(); len(e) != 0 {
		t.Fatalf("after Delete the store holds %v", e)
	}
	if err := store.Delete(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("delete twice: %v, want ErrNotLoggedIn", err)
	}

	// A missing part is said plainly.
	store.Save(account, tok)
	ring.Delete(keyringService, part(store.user(account), 2))
	if _, err := store.Load(account); err == nil || !strings.Contains(err.Error(), "part 2 of") {
		t.Fatalf("load with a part missing: %v", err)
	}
}

func TestKeyringStoreTooBigFallsBackToFiles(t *testing.T) {
	ring := newFakeRing()
	ring.max = 100 // a store with a small limit: the token needs more parts than the store allows
	files, _ := NewFileStore(filepath.Join(t.TempDir(), "tokens"))
	store := &keyringAndFiles{ring: &KeyringStore{ring: ring, max: ring.max}, files: files}

	tok := msToken()
	if err := store.ring.Save(account, tok); !errors.Is(err, errTooBig) {
		t.Fatalf("save %d parts: %v, want errTooBig", maxParts+1, err)
	}
	if err := store.Save(account, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Load(account); err != nil {
		t.Fatalf("the token is not in a file: %v", err)
	}
	if _, err := store.ring.Load(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("the credential store has an entry: %v", err)
	}
	got, err := store.Load(account)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)

	// A token that fits goes to the credential store, and the file,
	// whose refresh token may be spent, goes.
	small := smallToken("fits")
	if err := store.Save(account, small); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Load(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("the file is still there: %v", err)
	}
	if got, err := store.Load(account); err != nil || got.AccessToken != "fits" {
		t.Fatalf("load: %v", err)
	}
	if err := store.Delete(account); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(account); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("delete twice: %v, want ErrNotLoggedIn", err)
	}
}

func TestKeyringAndFilesReadsBoth(t *testing.T) {
	ring := newFakeRing()
	files, _ := NewFileStore(filepath.Join(t.TempDir(), "tokens"))
	store := &keyringAndFiles{ring: &KeyringStore{ring: ring, max: maxSecret}, files: files}
	// Saved over SSH, where only files worked:
	if err := files.Save(account, smallToken("from-ssh")); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Load(account); err != nil || got.AccessToken != "from-ssh" {
		t.Fatalf("load: %v", err)
	}
	// A credential store that fails is an error, not a fall back.
	ring.err = errors.New("the user denied access")
	if _, err := store.Load(account); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("load with a failing credential store: %v", err)
	}
	if err := store.Save(account, smallToken("x")); err == nil {
		t.Fatal("save with a failing credential store succeeded")
	}
}

func TestKeyringProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring func() *fakeRing
		want bool
	}{
		{"answers", newFakeRing, true},
		{"fails", func() *fakeRing { r := newFakeRing(); r.err = errors.New("no such interface"); return r }, false},
		{"hangs", func() *fakeRing { r := newFakeRing(); r.hang = make(chan struct{}); return r }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := tc.ring()
			if ring.hang != nil {
				defer close(ring.hang)
			}
			store := &KeyringStore{ring: ring, max: maxSecret}
			if got := store.works(100 * time.Millisecond); got != tc.want {
				t.Fatalf("works = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOpenStore(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kind, want string
	}{
		{"file", "*oauth.FileStore"},
		{" File ", "*oauth.FileStore"},
		{"keyring", "*oauth.KeyringStore"},
		{"vault", `token store "vault": want file or keyring`},
	} {
		store, err := OpenStore(StoreOptions{Kind: tc.kind, Dir: dir})
		got := fmt.Sprintf("%T", store)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("OpenStore(%q) = %s, want %s", tc.kind, got, tc.want)
		}
	}
	t.Setenv("MAILMERGE_TOKEN_STORE", "file")
	if store, err := NewStore(); err != nil {
		t.Fatal(err)
	} else if _, ok := store.(*FileStore); !ok {
		t.Fatalf("MAILMERGE_TOKEN_STORE=file gave %T", store)
	}

	// Without a session D-Bus (a server, an SSH session, CI), the
	// default is files.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		store, err := OpenStore(StoreOptions{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if fs, ok := store.(*FileStore); !ok || fs.Dir() != dir {
			t.Fatalf("the default store without a D-Bus is %T", store)
		}
	}
}

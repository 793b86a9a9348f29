package oauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/oauth2"
)

// KeyringStore keeps tokens in the operating system's credential store
// (github.com/zalando/go-keyring): Windows Credential Manager, the macOS
// Keychain, or a Secret Service (GNOME Keyring, KWallet) on the D-Bus of
// a Linux desktop session.
//
// Windows Credential Manager takes at most 2,560 bytes in a secret, and
// Microsoft's tokens may be longer together (an access token of 1.5-3 KB
// and a refresh token of about 1.5 KB). Tokens longer than that are split
// into parts, each an entry of its own ("user#1", "user#2", …), and the
// account's own entry says how many there are.
type KeyringStore struct {
	ring secrets
	max  int // bytes in one secret
}

// secrets is the part of go-keyring's Keyring the store uses; tests give
// it one of their own.
type secrets interface {
	Set(service, user, secret string) error
	Get(service, user string) (string, error)
	Delete(service, user string) error
}

const (
	// keyringService is the service the entries are filed under.
	keyringService = "mailmerge"
	// maxSecret is Windows Credential Manager's limit on a secret
	// (CRED_MAX_CREDENTIAL_BLOB_SIZE, 5×512 bytes), the lowest of the
	// three stores': the macOS Keychain takes about 3,000 bytes through
	// security(1)'s command line, go-keyring's way in.
	maxSecret = 2560
	// partsPrefix starts an entry that says into how many parts the
	// tokens are split. A record starts with "{".
	partsPrefix = "mailmerge-parts:"
	// maxParts bounds what a corrupt entry can make Load read.
	maxParts = 16
)

// errTooBig is the error of a credential store that refuses a secret as
// too big.
var errTooBig = errors.New("too big for the credential store")

// NewKeyringStore returns the store in the operating system's credential
// store. It may not work: on a Linux server, or in an SSH session, there
// is no Secret Service.
func NewKeyringStore() *KeyringStore {
	return &KeyringStore{ring: osKeyring{}, max: maxSecret}
}

// osKeyring is go-keyring's store of this operating system.
type osKeyring struct{}

func (osKeyring) Set(service, user, secret string) error { return keyring.Set(service, user, secret) }
func (osKeyring) Get(service, user string) (string, error) {
	return keyring.Get(service, user)
}
func (osKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// user is the account's entry: its user name, for a person who looks at
// the credential store, and a digest of the whole account.
func (k *KeyringStore) user(a Account) string {
	return a.Username + " " + a.id()
}

func part(user string, i int) string { return user + "#" + strconv.Itoa(i) }

// Load reads the account's tokens.
func (k *KeyringStore) Load(a Account) (*oauth2.Token, error) {
	user := k.user(a)
	head, err := k.get(user)
	if err != nil {
		return nil, err
	}
	data := head
	if n, ok := parts(head); ok {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			p, err := k.get(part(user, i))
			if errors.Is(err, ErrNotLoggedIn) {
				return nil, fmt.Errorf("credential store: part %d of %d of %s's tokens is missing (run mailmerge login)", i, n, a.Username)
			}
			if err != nil {
				return nil, err
			}
			b.WriteString(p)
		}
		data = b.String()
	}
	t, err := decodeToken([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("credential store: %s's entry: %w (run mailmerge login)", a.Username, err)
	}
	return t, nil
}

// Save writes the account's tokens: the parts first, then the entry that
// names them, then it removes the parts of older tokens that the new
// ones do not need.
func (k *KeyringStore) Save(a Account, t *oauth2.Token) error {
	data, err := encodeToken(t)
	if err != nil {
		return err
	}
	user := k.user(a)
	old := 0
	if head, err := k.get(user); err == nil {
		old, _ = parts(head)
	}
	secret := string(data)
	n := 0
	if len(secret) > k.max {
		n = (len(secret) + k.max - 1) / k.max
		if n > maxParts {
			return fmt.Errorf("credential store: tokens of %d bytes: %w", len(secret), errTooBig)
		}
		for i := 1; i <= n; i++ {
			if err := k.set(part(user, i), secret[(i-1)*k.max:min(i*k.max, len(secret))]); err != nil {
				return err
			}
		}
		secret = partsPrefix + strconv.Itoa(n)
	}
	if err := k.set(user, secret); err != nil {
		return err
	}
	for i := n + 1; i <= old; i++ {
		if err := k.delete(part(user, i)); err != nil && !errors.Is(err, ErrNotLoggedIn) {
			return err
		}
	}
	return nil
}

// Delete removes the account's entry and its parts.
func (k *KeyringStore) Delete(a Account) error {
	user := k.user(a)
	head, err := k.get(user)
	if err != nil {
		return err
	}
	n, _ := parts(head)
	for i := 1; i <= n; i++ {
		if err := k.delete(part(user, i)); err != nil && !errors.Is(err, ErrNotLoggedIn) {
			return err
		}
	}
	return k.delete(user)
}

// parts reads an entry that says into how many parts the tokens are
// split.
func parts(head string) (int, bool) {
	s, ok := strings.CutPrefix(head, partsPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxParts {
		return 0, false
	}
	return n, true
}

func (k *KeyringStore) get(user string) (string, error) {
	s, err := k.ring.Get(keyringService, user)
	return s, keyringErr("read", err)
}

func (k *KeyringStore) set(user, secret string) error {
	return keyringErr("write", k.ring.Set(keyringService, user, secret))
}

func (k *KeyringStore) delete(user string) error {
	return keyringErr("delete", k.ring.Delete(keyringService, user))
}

// keyringErr says what a credential store's error means for a login.
// go-keyring's errors carry no secrets.
func keyringErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return ErrNotLoggedIn
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("credential store: %w", errTooBig)
	}
	return fmt.Errorf("credential store: %s: %w", op, err)
}

// works reports whether a look-up in the credential store answers, within
// timeout: a Secret Service may ask the user to unlock it, or hang. On a
// Unix without a session D-Bus it does not try, for go-keyring's D-Bus
// library would start one (dbus-launch) to ask.
func (k *KeyringStore) works(timeout time.Duration) bool {
	if _, ok := k.ring.(osKeyring); ok && !sessionBus() {
		return false
	}
	done := make(chan error, 1)
	go func() {
		_, err := k.get("probe " + strconv.FormatInt(time.Now().UnixNano(), 36))
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil || errors.Is(err, ErrNotLoggedIn)
	case <-time.After(timeout):
		return false
	}
}

// sessionBus reports whether the session's D-Bus, which a Secret Service
// answers on, is there to ask. Windows and macOS have their own stores.
func sessionBus() bool {
	switch runtime.GOOS {
	case "windows", "darwin", "ios":
		return true
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return true
		}
	}
	return false
}

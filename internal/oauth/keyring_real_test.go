package oauth

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestKeyringStoreReal saves, reads and deletes tokens in the operating
// system's credential store, where one answers: on Linux, a Secret
// Service on the session's D-Bus (e.g. dbus-run-session with
// gnome-keyring-daemon --unlock, as .ci/run starts them). Elsewhere, and on
// servers, it is skipped, unless MAILMERGE_TEST_KEYRING is set (.ci/run
// sets it where it starts one).
func TestKeyringStoreReal(t *testing.T) {
	ring := NewKeyringStore()
	if !ring.works(5 * time.Second) {
		if os.Getenv("MAILMERGE_TEST_KEYRING") != "" {
			t.Fatal("MAILMERGE_TEST_KEYRING is set, but no credential store answers (no Secret Service on a session D-Bus)")
		}
		t.Skip("no credential store answers here (no Secret Service on a session D-Bus)")
	}
	a := account
	a.Username = "test-" + time.Now().Format("150405.000000") + "@univ.example"
	t.Cleanup(func() { ring.Delete(a) })

	tok := msToken()
	if err := ring.Save(a, tok); err != nil {
		t.Fatal(err)
	}
	got, err := ring.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)
	small := smallToken("small")
	if err := ring.Save(a, small); err != nil {
		t.Fatal(err)
	}
	if got, err := ring.Load(a); err != nil {
		t.Fatal(err)
	} else {
		sameToken(t, got, small)
	}
	if _, err := ring.get(part(ring.user(a), 1)); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("the long token's parts are left: %v", err)
	}
	if err := ring.Delete(a); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Load(a); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("load after delete: %v", err)
	}

	// The default store is this one, with files beside it.
	store, err := OpenStore(StoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*keyringAndFiles); !ok {
		t.Fatalf("the default store is %T", store)
	}
}

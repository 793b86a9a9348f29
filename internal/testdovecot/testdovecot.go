// Package testdovecot runs a throwaway Dovecot IMAP server on loopback
// for tests that need a real mailbox: TLS from the first byte on one
// port, STARTTLS on another, users from a passwd-file (and, with
// Options.OAuth2, OAuth 2.0 bearer tokens checked by an authorization
// server such as internal/testoauth's), and Maildirs that a test (or a
// throwaway Postfix) fills. .ci/run installs the Debian
// packages (dovecot-core, dovecot-imapd) and sets MAILMERGE_TEST_POSTFIX=1,
// which these tests share with the Postfix ones.
package testdovecot

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testenv"
)

// Need runs t where Dovecot's IMAP server is installed (see testenv.Need).
func Need(t testing.TB) {
	t.Helper()
	testenv.Need(t, "apt-get install dovecot-core dovecot-imapd", "dovecot", "doveadm", "/usr/lib/dovecot/imap")
}

// Options say what the instance serves.
type Options struct {
	TLS   *tls.Config       // the server's certificate
	Users map[string]string // user name → password
	// Base is the folder that holds each user's home, base/USER, with
	// its mail in base/USER/Maildir; a new folder when empty.
	Base string
	// Owner is the system user the mail belongs to (it must be able to
	// read it: "postfix" when a Postfix delivers there); nobody when empty.
	Owner string
	// OAuth2, if set, lets users log in with OAuth 2.0 bearer tokens too
	// (XOAUTH2, OAUTHBEARER); the password users keep working.
	OAuth2 *OAuth2
}

// Dovecot is a running instance.
type Dovecot struct {
	Port         int    // IMAP over TLS (as 993)
	StartTLSPort int    // IMAP with STARTTLS (as 143)
	Base         string // the users' homes
	conf         string
}

// Start runs an instance until the test ends.
func Start(t testing.TB, opts Options) *Dovecot {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755) // Dovecot's processes drop their privileges
	}
	if opts.Base == "" {
		opts.Base = filepath.Join(d, "home")
	}
	owner := opts.Owner
	if owner == "" {
		owner = "nobody"
	}
	u, err := user.Lookup(owner)
	if err != nil {
		t.Fatalf("no user %s: %v", owner, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var passwd strings.Builder
	for name, pw := range opts.Users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", name, pw)
		home := filepath.Join(opts.Base, name)
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o700)
		}
		filepath.Walk(opts.Base, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, gid) })
	}
	if opts.OAuth2 != nil {
		// A user known only by token gets a home there on first login.
		os.MkdirAll(opts.Base, 0o755)
		os.Chown(opts.Base, uid, gid)
	}
	os.Chmod(opts.Base, 0o755)
	os.WriteFile(filepath.Join(d, "users"), []byte(passwd.String()), 0o644)
	testca.WriteServerFiles(t, d, opts.TLS)

	oauth2, err := opts.OAuth2.Conf(d)
	if err != nil {
		t.Fatal(err)
	}
	v := &Dovecot{Port: testca.FreePort(t), StartTLSPort: testca.FreePort(t), Base: opts.Base, conf: filepath.Join(d, "dovecot.conf")}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
auth_mechanisms = plain login%[7]s
# A refused login is answered at once, and the next ones are not slowed.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = passwd-file
%[9]s  args = scheme=PLAIN username_format=%%n %[1]s/users
}
%[8]suserdb {
  driver = static
  args = uid=%[2]d gid=%[3]d home=%[4]s/%%n
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Sent {
    auto = create
    special_use = \Sent
  }
  mailbox Bounces {
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service anvil {
  chroot =
%[10]s}
`, d, uid, gid, opts.Base, v.StartTLSPort, v.Port, oauth2.Mechanisms, oauth2.Passdb, oauth2.PasswdMechanisms, oauth2.Anvil)
	os.WriteFile(v.conf, []byte(conf), 0o644)
	// dovecot leaves a daemon behind that keeps whatever output it was
	// given open: a file, not a pipe to wait on.
	out, err := os.Create(filepath.Join(d, "start.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dovecot", "-c", v.conf)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		log, _ := os.ReadFile(out.Name())
		t.Fatalf("dovecot: %v\n%s", err, log)
	}
	t.Cleanup(func() { exec.Command("doveadm", "-c", v.conf, "stop").Run() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", v.Port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d, "log"))
			t.Fatalf("dovecot did not listen on %d:\n%s", v.Port, log)
		}
	}
	return v
}

// Maildir is where the mail of user's INBOX is.
func (v *Dovecot) Maildir(user string) string { return filepath.Join(v.Base, user, "Maildir") }

// Search lists the messages of user's folder that match a doveadm search
// query ("ALL", "header Message-ID <x@y>"), as doveadm prints them.
func (v *Dovecot) Search(t testing.TB, user, folder string, query ...string) []string {
	t.Helper()
	args := append([]string{"-c", v.conf, "search", "-u", user, "mailbox", folder}, query...)
	out, err := exec.Command("doveadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("doveadm search: %v\n%s", err, out)
	}
	return strings.Fields(string(bytes.TrimSpace(out)))
}

// Expunge removes the messages of user's folder that match a doveadm
// search query.
func (v *Dovecot) Expunge(t testing.TB, user, folder string, query ...string) {
	t.Helper()
	args := append([]string{"-c", v.conf, "expunge", "-u", user, "mailbox", folder}, query...)
	if out, err := exec.Command("doveadm", args...).CombinedOutput(); err != nil {
		t.Fatalf("doveadm expunge: %v\n%s", err, out)
	}
}

// Fetch returns a field of the messages of user's folder that match a
// doveadm search query ("hdr", "text", "flags"), one per message.
func (v *Dovecot) Fetch(t testing.TB, user, field, folder string, query ...string) []string {
	t.Helper()
	args := append([]string{"-c", v.conf, "fetch", "-u", user, field, "mailbox", folder}, query...)
	out, err := exec.Command("doveadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("doveadm fetch: %v\n%s", err, out)
	}
	var msgs []string
	for _, m := range strings.Split("\n"+string(out), "\n"+field+":\n") { // each message's begins so
		if m = strings.TrimSpace(m); m != "" {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// Deliver puts a message into user's INBOX as a mail server would.
func (v *Dovecot) Deliver(t testing.TB, user string, data []byte) {
	t.Helper()
	cmd := exec.Command("doveadm", "-c", v.conf, "save", "-u", user, "-m", "INBOX")
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("doveadm save: %v\n%s", err, out)
	}
}

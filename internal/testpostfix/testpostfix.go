// Package testpostfix runs a throwaway Postfix on loopback for tests that
// need a real MTA: STARTTLS with a test certificate, optionally a port
// that speaks TLS from the first byte (as 465 does), optionally AUTH
// against a throwaway Dovecot's auth service (passwords, and OAuth 2.0
// bearer tokens with XOAUTH2 and OAUTHBEARER), and local delivery of
// example.com into one Maildir. .ci/run installs the Debian packages
// (postfix, dovecot-core) and sets MAILMERGE_TEST_POSTFIX=1.
package testpostfix

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testenv"
)

// Need runs t where Postfix and Dovecot's auth are installed (see
// testenv.Need).
func Need(t testing.TB) {
	t.Helper()
	testenv.Need(t, "apt-get install postfix dovecot-core", "postfix", "postconf", "dovecot", "doveadm")
}

// Options say what the instance offers.
type Options struct {
	// TLS is the server side of STARTTLS (and of the TLS port).
	TLS *tls.Config
	// TLSPort adds a port that speaks TLS from the first byte.
	TLSPort bool
	// Users, if set, makes AUTH PLAIN and LOGIN available (over TLS only)
	// for these users and passwords.
	Users map[string]string
	// OAuth2, if set, makes AUTH XOAUTH2 and OAUTHBEARER available (over
	// TLS only), with the tokens checked by the Dovecot behind AUTH as
	// internal/testdovecot says; Users may be set too.
	OAuth2 *testdovecot.OAuth2
	// Mailboxes, if set, replaces the one inbox for example.com: mail for
	// each address goes to its Maildir (a path under MailBase, ending in
	// "/"). Mail for other addresses of example.com and of the mailboxes'
	// domains is taken, then bounced (unknown user), as a provider's
	// server does: a real delivery report goes back to the sender.
	Mailboxes map[string]string
	MailBase  string // owned by the postfix user
}

// Postfix is a running instance.
type Postfix struct {
	Port    int    // SMTP with STARTTLS
	TLSPort int    // TLS from the first byte; 0 unless asked for
	Inbox   string // the Maildir where mail for example.com lands
	etc     string // its configuration
	nonce   string // in its banner
}

// Stop stops the instance, as a server that goes away: new connections
// are refused; mail it took waits in its queue.
func (p *Postfix) Stop(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("postfix", "-c", p.etc, "stop").CombinedOutput(); err != nil {
		t.Fatalf("postfix stop: %v\n%s", err, out)
	}
}

// Resume starts a stopped instance again; it delivers what it queued.
func (p *Postfix) Resume(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("postfix", "-c", p.etc, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s", err, out)
	}
	WaitBanner(t, p.Port, p.nonce)
}

// Start runs an instance until the test ends.
func Start(t testing.TB, opts Options) *Postfix {
	t.Helper()
	d := t.TempDir()
	// Postfix's processes run as the postfix user: let them in.
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("no postfix user: %v", err)
	}
	for _, sub := range []string{"etc", "queue", "data", "mail"} {
		os.MkdirAll(filepath.Join(d, sub), 0o755)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	os.Chown(filepath.Join(d, "data"), uid, gid)
	os.Chown(filepath.Join(d, "mail"), uid, gid)
	testca.WriteServerFiles(t, d, opts.TLS)

	p := &Postfix{Port: testca.FreePort(t), Inbox: filepath.Join(d, "mail", "inbox")}
	nonce := fmt.Sprintf("mailmerge-test-%d", time.Now().UnixNano())
	domains, maps, base := "example.com", "static:inbox/", filepath.Join(d, "mail")
	if opts.Mailboxes != nil {
		var lines strings.Builder
		seen := map[string]bool{"example.com": true}
		for addr, box := range opts.Mailboxes {
			fmt.Fprintf(&lines, "%s %s\n", addr, box)
			if _, dom, _ := strings.Cut(addr, "@"); !seen[dom] {
				seen[dom], domains = true, domains+" "+dom
			}
		}
		os.WriteFile(filepath.Join(d, "etc", "vmailbox"), []byte(lines.String()), 0o644)
		maps, base = "texthash:"+filepath.Join(d, "etc", "vmailbox"), opts.MailBase
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.mailmerge.test
smtpd_banner = $myhostname ESMTP %[2]s
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = %[5]s
virtual_mailbox_base = %[7]s
virtual_mailbox_maps = %[6]s
smtpd_reject_unlisted_recipient = no
virtual_uid_maps = static:%[3]d
virtual_gid_maps = static:%[4]d
alias_maps =
alias_database =
smtputf8_enable = yes
smtpd_tls_cert_file = %[1]s/cert.pem
smtpd_tls_key_file = %[1]s/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
`, d, nonce, uid, gid, domains, maps, base)
	if opts.Users != nil || opts.OAuth2 != nil {
		mainCF += fmt.Sprintf(`smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %s
smtpd_tls_auth_only = yes
`, startDovecot(t, d, opts.Users, opts.OAuth2))
	}
	etc := filepath.Join(d, "etc")
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	smtpLine := regexp.MustCompile(`(?m)^smtp\s+inet\s.*smtpd$`)
	if !smtpLine.Match(master) {
		t.Fatal("master.cf has no smtp inet line to move to our port")
	}
	listen := fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", p.Port)
	if opts.TLSPort {
		p.TLSPort = testca.FreePort(t)
		listen += fmt.Sprintf("\n127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes", p.TLSPort)
	}
	master = smtpLine.ReplaceAll(master, []byte(listen))
	os.WriteFile(filepath.Join(etc, "master.cf"), master, 0o644)
	run := func(args ...string) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(d, "maillog"))
			t.Fatalf("%v: %v\n%s\n%s", args, err, out, log)
		}
	}
	run("postconf", "-c", etc, "-F", "*/*/chroot = n")
	run("postfix", "-c", etc, "start")
	t.Cleanup(func() { exec.Command("postfix", "-c", etc, "stop").Run() })
	WaitBanner(t, p.Port, nonce)
	p.etc, p.nonce = etc, nonce
	return p
}

// startDovecot runs a Dovecot that only authenticates, for Postfix's
// AUTH, and returns the path of its socket.
func startDovecot(t testing.TB, d string, users map[string]string, oauth2 *testdovecot.OAuth2) string {
	t.Helper()
	dir := filepath.Join(d, "dovecot")
	os.MkdirAll(dir, 0o755)
	var passwd strings.Builder
	for u, pw := range users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, pw)
	}
	os.WriteFile(filepath.Join(dir, "users"), []byte(passwd.String()), 0o644)
	socket := filepath.Join(dir, "auth")
	conf := filepath.Join(dir, "dovecot.conf")
	oauth2Conf, err := oauth2.Conf(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(conf, []byte(fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login%[3]s
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = passwd-file
%[4]s  args = scheme=PLAIN username_format=%%u %[1]s/users
}
%[5]suserdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s
}
service auth {
  unix_listener %[2]s {
    mode = 0666
  }
}
service anvil {
  chroot =
%[6]s}
`, dir, socket, oauth2Conf.Mechanisms, oauth2Conf.PasswdMechanisms, oauth2Conf.Passdb, oauth2Conf.Anvil)), 0o644)
	// dovecot leaves a daemon behind that keeps whatever output it was
	// given open: a file, not a pipe to wait on.
	out, err := os.Create(filepath.Join(dir, "start.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dovecot", "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		log, _ := os.ReadFile(out.Name())
		t.Fatalf("dovecot: %v\n%s", err, log)
	}
	t.Cleanup(func() { exec.Command("doveadm", "-c", conf, "stop").Run() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			return socket
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dovecot made no auth socket:\n%s", log)
		}
	}
}

// WaitBanner waits until the server on port greets with a banner holding
// nonce: the listener is ours (two servers can share a port here).
func WaitBanner(t testing.TB, port int, nonce string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.Contains(line, nonce) {
				return
			}
			t.Fatalf("port %d: another server answered: %q", port, line)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("port %d: no server came up", port)
}

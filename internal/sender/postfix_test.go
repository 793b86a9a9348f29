package sender

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
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

	"github.com/mailmerge/mailmerge/internal/journal"
)

// The tests in this file run a real Postfix (and its smtp-sink) from the
// Debian package. .ci/run installs it and sets MAILMERGE_TEST_POSTFIX=1.
func needPostfix(t *testing.T) {
	t.Helper()
	if os.Getenv("MAILMERGE_TEST_POSTFIX") == "" {
		t.Skip("set MAILMERGE_TEST_POSTFIX=1 to send through a real Postfix (.ci/run does)")
	}
}

// freePort finds a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitBanner waits until the server on port greets with a banner holding
// nonce: the listener is ours (two servers can share a port here).
func waitBanner(t *testing.T, port int, nonce string) {
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

// startPostfix runs a throwaway Postfix instance on a loopback port that
// offers STARTTLS with the given certificate and delivers every letter for
// example.com into one Maildir, which it returns.
func startPostfix(t *testing.T, serverTLS *tls.Config) (port int, maildir string) {
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

	cert := serverTLS.Certificates[0]
	var certPEM bytes.Buffer
	for _, der := range cert.Certificate {
		pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "cert.pem"), certPEM.Bytes(), 0o644)
	os.WriteFile(filepath.Join(d, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	port = freePort(t)
	nonce := fmt.Sprintf("mailmerge-test-%d", time.Now().UnixNano())
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.mailmerge.test
smtpd_banner = $myhostname ESMTP %[2]s
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.com
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:inbox/
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
`, d, nonce, uid, gid)
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
	master = smtpLine.ReplaceAll(master, []byte(fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", port)))
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
	waitBanner(t, port, nonce)
	return port, filepath.Join(d, "mail", "inbox")
}

// TestPostfixSTARTTLS sends a few hundred letters through Postfix with
// STARTTLS and checks that each arrives once, over TLS.
func TestPostfixSTARTTLS(t *testing.T) {
	needPostfix(t)
	serverTLS, pool := testCA(t)
	port, inbox := startPostfix(t, serverTLS)

	const n = 300
	tr := smtpTransport(port)
	tr.Security = StartTLS
	tr.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	tr.Timeout = 30 * time.Second
	tr.DataTimeout = 10 * time.Minute
	st, last, err := runPool(t, tr, letters(n), func(p *Pool) { p.Concurrency = 4; p.PerSession = 50 })
	if err != nil || st.Delivered != n || countStates(last)[journal.Delivered] != n {
		t.Fatalf("%v: %s", err, summary(st))
	}
	if r := last["key0"]; !strings.Contains(r.Text, "queued as") {
		t.Errorf("the reply has no queue id: %q", r.Text)
	}

	// Postfix queues, then its virtual agent delivers: wait for them all.
	deadline := time.Now().Add(2 * time.Minute)
	var files []os.DirEntry
	for time.Now().Before(deadline) {
		files, _ = os.ReadDir(filepath.Join(inbox, "new"))
		if len(files) >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(files) != n {
		t.Fatalf("%d of %d letters arrived", len(files), n)
	}
	ids := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(inbox, "new", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)$`).FindSubmatch(data); m != nil {
			ids[string(m[1])]++
		}
		if !bytes.Contains(data, []byte("using TLSv1.3")) {
			t.Errorf("%s: no TLS in the Received header", f.Name())
		}
		if !bytes.Contains(data, []byte("\n.\n.leading dot\n")) {
			t.Errorf("%s: the dot lines did not survive", f.Name())
		}
	}
	for _, l := range letters(n) {
		if ids[l.MessageID] != 1 {
			t.Errorf("%s arrived %d times", l.MessageID, ids[l.MessageID])
		}
	}
}

// TestSMTPSink sends a larger volume to Postfix's smtp-sink.
func TestSMTPSink(t *testing.T) {
	needPostfix(t)
	port := freePort(t)
	nonce := fmt.Sprintf("sink%d", time.Now().UnixNano()%1e9)
	args := []string{"-h", nonce, fmt.Sprintf("127.0.0.1:%d", port), "256"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postfix"}, args...) // it will not run as root
	}
	sink := exec.Command("smtp-sink", args...)
	var stderr bytes.Buffer
	sink.Stderr = &stderr
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { sink.Wait(); close(exited) }()
	t.Cleanup(func() { sink.Process.Kill(); <-exited })
	select {
	case <-exited:
		t.Fatalf("smtp-sink exited: %s", stderr.String())
	case <-time.After(200 * time.Millisecond):
	}
	waitBanner(t, port, nonce)
	const n = 2000
	st, last, err := runPool(t, smtpTransport(port), letters(n), func(p *Pool) { p.Concurrency = 4 })
	if err != nil || st.Delivered != n || countStates(last)[journal.Delivered] != n {
		t.Fatalf("%v: %s", err, summary(st))
	}
}

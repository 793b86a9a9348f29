package mailbox

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testca"
)

// hostileIMAP is a scripted IMAP server for the faults a real one will
// not make: it logs anybody in, has one folder, and answers SEARCH with
// uids UIDs and each FETCH with fetch (which writes the untagged
// answers). It counts the bytes it wrote and the UIDs it was asked for.
type hostileIMAP struct {
	refuse  bool // LOGIN is refused, repeating what it was sent
	uids    int
	fetch   func(w io.Writer, uids string)
	written atomic.Int64
	asked   atomic.Int64
}

func (h *hostileIMAP) start(t *testing.T) Server {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.Server)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); h.serve(c) })
		}
	})
	return Server{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: TLS, Username: "u", Password: "s3cret-imap-pw",
		TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}, Timeout: 20 * time.Second}
}

// counter counts what is written through it.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (h *hostileIMAP) serve(c net.Conn) {
	bw := bufio.NewWriter(counter{c, &h.written})
	r := bufio.NewReader(c)
	say := func(format string, args ...any) {
		fmt.Fprintf(bw, format+"\r\n", args...)
	}
	say("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile ready")
	bw.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		cmd, args, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			say("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
			say("%s OK done", tag)
		case "LOGIN":
			if h.refuse {
				say("%s NO [AUTHENTICATIONFAILED] wrong password for %s", tag, args)
				break
			}
			say("%s OK logged in", tag)
		case "SELECT", "EXAMINE":
			say("* %d EXISTS", h.uids)
			say("* OK [UIDVALIDITY 1] ok")
			say("%s OK [READ-WRITE] selected", tag)
		case "UID":
			sub, args, _ := strings.Cut(args, " ")
			switch strings.ToUpper(sub) {
			case "SEARCH":
				bw.WriteString("* SEARCH")
				for i := 1; i <= h.uids; i++ {
					fmt.Fprintf(bw, " %d", i)
				}
				bw.WriteString("\r\n")
				say("%s OK searched", tag)
			case "FETCH":
				set, _, _ := strings.Cut(args, " ")
				h.asked.Add(int64(count(set)))
				h.fetch(bw, set)
				say("%s OK fetched", tag)
			default:
				say("%s BAD no", tag)
			}
		case "LOGOUT":
			say("* BYE")
			say("%s OK bye", tag)
			bw.Flush()
			return
		default:
			say("%s OK", tag)
		}
		if bw.Flush() != nil {
			return
		}
	}
}

// count is how many UIDs a set such as 1:50 or 3,7,9:10 names.
func count(set string) int {
	n := 0
	for _, part := range strings.Split(set, ",") {
		var a, b int
		if k, _ := fmt.Sscanf(part, "%d:%d", &a, &b); k == 2 {
			n += b - a + 1
		} else {
			n++
		}
	}
	return n
}

// TestHostileServer: whatever a server holds or sends, one reading of the
// mailbox stays within its bounds: a literal streamed without end is cut
// off after maxAnswer bytes, and of a folder with 200,000 messages only
// the newest maxCandidates are looked at.
func TestHostileServer(t *testing.T) {
	ctx := context.Background()
	t.Run("a literal without end", func(t *testing.T) {
		h := &hostileIMAP{uids: 3, fetch: func(w io.Writer, _ string) {
			// It ignores the size asked for and announces 2 GB.
			fmt.Fprintf(w, "* 1 FETCH (UID 1 BODY[HEADER]<0> {2000000000}\r\n")
			chunk := strings.Repeat("x", 64<<10)
			for range 2000000000 / len(chunk) {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}}
		m, err := Dial(ctx, h.start(t))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_, err = m.Messages(ctx, "INBOX", time.Time{}, func([]byte) bool { return true }, func(Message) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "more than 32 MB in one answer") {
			t.Errorf("err = %v", err)
		}
		if w := h.written.Load(); w > maxAnswer+8<<20 {
			t.Errorf("the server wrote %d MB before the client stopped reading", w>>20)
		}
	})
	t.Run("a refusal that repeats the password", func(t *testing.T) {
		h := &hostileIMAP{refuse: true}
		_, err := Dial(ctx, h.start(t))
		if err == nil || !errors.Is(err, ErrLogin) || strings.Contains(err.Error(), "s3cret-imap-pw") || !strings.Contains(err.Error(), "wrong password for") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("200,000 messages", func(t *testing.T) {
		h := &hostileIMAP{uids: 200_000, fetch: func(w io.Writer, _ string) {}}
		m, err := Dial(ctx, h.start(t))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		skipped, err := m.Messages(ctx, "INBOX", time.Time{}, func([]byte) bool { return false }, func(Message) error { return nil })
		if err != nil || skipped != 200_000-maxCandidates || h.asked.Load() != maxCandidates {
			t.Errorf("skipped %d, asked for %d headers, err %v; want %d skipped, %d asked", skipped, h.asked.Load(), err, 200_000-maxCandidates, maxCandidates)
		}
	})
}

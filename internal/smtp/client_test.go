package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wire is a scripted SMTP server that records what the client sent in
// each flight: the bytes that arrived before the server answered.
type wire struct {
	ext   []string
	reply func(cmd string) string // the reply to a command; "" for the default
	// hangUp closes the connection instead of answering the flight that
	// holds a command starting with it.
	hangUp string
	// closeAfter closes the connection once the command starting with it
	// is answered, as a server does after a 421.
	closeAfter string

	mu      sync.Mutex
	flights [][]string
	bodies  []string
}

func (s *wire) start(t *testing.T) *Client {
	t.Helper()
	return s.startWith(t, func(c net.Conn) net.Conn { return c })
}

// startWith starts the server and a client on the connection wrap makes.
func (s *wire) startWith(t *testing.T, wrap func(net.Conn) net.Conn) *Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		s.serve(conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := NewClient(wrap(conn), 5*time.Second, 5*time.Second)
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.flights = nil // EHLO is not what the tests look at
	s.mu.Unlock()
	return c
}

func (s *wire) serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	var pending bytes.Buffer // what arrived and is not yet read as commands
	inData := false
	for {
		// A flight: what arrives until the line is quiet for a moment.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1<<16)
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		pending.Write(buf[:n])
		for {
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := r.Read(buf)
			pending.Write(buf[:n])
			if err != nil {
				break
			}
		}
		var flight []string
		var replies []string
		for pending.Len() > 0 {
			data := pending.Bytes()
			if inData {
				i, size := bytes.Index(data, []byte("\r\n.\r\n")), 0
				switch {
				case bytes.HasPrefix(data, []byte(".\r\n")): // an empty message
					i = -2
				case i < 0:
				default:
					size = i + 2
				}
				if i == -1 {
					break
				}
				s.bodies = append(s.bodies, string(data[:size]))
				flight = append(flight, fmt.Sprintf("[%d bytes]", size), ".")
				pending.Next(size + 3)
				inData = false
				replies = append(replies, s.answer("."))
				continue
			}
			i := bytes.Index(data, []byte("\r\n"))
			if i < 0 {
				break
			}
			cmd := string(data[:i])
			pending.Next(i + 2)
			flight = append(flight, cmd)
			if f := strings.Fields(cmd); len(f) >= 2 && f[0] == "BDAT" {
				size, _ := strconv.Atoi(f[1])
				body := pending.Next(size)
				s.bodies = append(s.bodies, string(body))
				flight = append(flight, fmt.Sprintf("[%d bytes]", len(body)))
			}
			r := s.answer(cmd)
			if strings.HasPrefix(r, "354") {
				inData = true
			}
			replies = append(replies, r)
			if s.closeAfter != "" && strings.HasPrefix(cmd, s.closeAfter) {
				s.mu.Lock()
				s.flights = append(s.flights, flight)
				s.mu.Unlock()
				io.WriteString(conn, strings.Join(replies, ""))
				return
			}
		}
		s.mu.Lock()
		s.flights = append(s.flights, flight)
		s.mu.Unlock()
		if s.hangUp != "" && containsPrefix(flight, s.hangUp) {
			return
		}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, strings.Join(replies, ""))
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (s *wire) answer(cmd string) string {
	if s.reply != nil {
		if r := s.reply(cmd); r != "" {
			return r + "\r\n"
		}
	}
	verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
	switch verb {
	case "EHLO":
		lines := append([]string{"wire.example"}, s.ext...)
		var b strings.Builder
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			fmt.Fprintf(&b, "250%s%s\r\n", sep, l)
		}
		return b.String()
	case "DATA":
		return "354 go ahead\r\n"
	case "QUIT":
		return "221 2.0.0 bye\r\n"
	}
	return "250 2.0.0 ok\r\n"
}

func (s *wire) recorded() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flights
}

func flightsString(f [][]string) string {
	var out []string
	for _, fl := range f {
		out = append(out, strings.Join(fl, " | "))
	}
	return strings.Join(out, "\n")
}

var letter = &Mail{From: "dept@example.edu", To: []string{"ann@example.com", "bob@example.com"}, Data: []byte("Subject: x\r\n\r\nHello\r\n.hidden line\r\n")}

func TestFlights(t *testing.T) {
	tests := []struct {
		name    string
		ext     []string
		flights string
	}{
		{"PIPELINING and CHUNKING: one round trip", []string{"PIPELINING", "CHUNKING"},
			"MAIL FROM:<dept@example.edu> | RCPT TO:<ann@example.com> | RCPT TO:<bob@example.com> | BDAT 35 LAST | [35 bytes]"},
		{"PIPELINING: two round trips", []string{"PIPELINING"},
			"MAIL FROM:<dept@example.edu> | RCPT TO:<ann@example.com> | RCPT TO:<bob@example.com> | DATA\n[36 bytes] | ."},
		{"CHUNKING without PIPELINING", []string{"CHUNKING"},
			"MAIL FROM:<dept@example.edu>\nRCPT TO:<ann@example.com>\nRCPT TO:<bob@example.com>\nBDAT 35 LAST | [35 bytes]"},
		{"neither: command by command", nil,
			"MAIL FROM:<dept@example.edu>\nRCPT TO:<ann@example.com>\nRCPT TO:<bob@example.com>\nDATA\n[36 bytes] | ."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &wire{ext: tt.ext}
			c := s.start(t)
			var refusedAtEnd []int
			called := 0
			sent, err := c.Send(letter, nil, func(s *Sent) error { called++; refusedAtEnd = refusedOf(s); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if got := flightsString(s.recorded()); got != tt.flights {
				t.Errorf("flights:\n%s\nwant:\n%s", got, tt.flights)
			}
			if called != 1 || len(refusedAtEnd) != 0 || sent.End == nil || sent.End.Code != 250 || len(sent.Accepted()) != 2 {
				t.Errorf("beforeEnd called %d times (refused %v); sent %+v", called, refusedAtEnd, sent)
			}
			// The body as the server got it: dot-stuffed for DATA, as is for BDAT.
			body := s.bodies[0]
			if want := "..hidden line\r\n"; !strings.HasSuffix(body, want) && !sent.Chunked {
				t.Errorf("DATA body %q does not end %q", body, want)
			}
			if sent.Chunked && body != string(letter.Data) {
				t.Errorf("BDAT body %q", body)
			}
		})
	}
}

func TestQuitInTheLastFlight(t *testing.T) {
	tests := []struct {
		name    string
		ext     []string
		flights string
	}{
		{"PIPELINING and CHUNKING", []string{"PIPELINING", "CHUNKING"},
			"MAIL FROM:<dept@example.edu> | RCPT TO:<ann@example.com> | RCPT TO:<bob@example.com> | BDAT 35 LAST | [35 bytes] | QUIT"},
		{"PIPELINING", []string{"PIPELINING"},
			"MAIL FROM:<dept@example.edu> | RCPT TO:<ann@example.com> | RCPT TO:<bob@example.com> | DATA\n[36 bytes] | . | QUIT"},
		{"neither: QUIT on its own", nil,
			"MAIL FROM:<dept@example.edu>\nRCPT TO:<ann@example.com>\nRCPT TO:<bob@example.com>\nDATA\n[36 bytes] | .\nQUIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &wire{ext: tt.ext}
			c := s.start(t)
			last := *letter
			last.Quit = true
			sent, err := c.Send(&last, nil, func(*Sent) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if sent.End == nil || sent.End.Code != 250 {
				t.Fatalf("end of message: %+v", sent.End)
			}
			pipelined := sent.Quit != nil
			if pipelined != slices.Contains(tt.ext, "PIPELINING") || pipelined && sent.Quit.Code != 221 {
				t.Errorf("reply to a pipelined QUIT: %+v", sent.Quit)
			}
			// The session's close sends QUIT only if the flight did not.
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the server's flight ends when the line is quiet
			if got := flightsString(s.recorded()); got != tt.flights {
				t.Errorf("flights:\n%s\nwant:\n%s", got, tt.flights)
			}
		})
	}
}

func TestRefusalsInAFlight(t *testing.T) {
	for _, ext := range [][]string{{"PIPELINING", "CHUNKING"}, {"PIPELINING"}, nil} {
		name := strings.Join(ext, "+")
		t.Run("one RCPT refused "+name, func(t *testing.T) {
			s := &wire{ext: ext, reply: func(cmd string) string {
				if strings.Contains(cmd, "bob@") {
					return "550 5.1.1 No such user"
				}
				return ""
			}}
			c := s.start(t)
			sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
			if err != nil || sent.Rcpt[1].Code != 550 || sent.Rcpt[1].Enhanced != "5.1.1" || sent.Rcpt[1].Text != "No such user" ||
				sent.End == nil || sent.End.Code != 250 || len(sent.Accepted()) != 1 {
				t.Errorf("sent %+v, err %v", sent, err)
			}
		})
		t.Run("every RCPT refused "+name, func(t *testing.T) {
			s := &wire{ext: ext, reply: func(cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "RCPT"):
					return "550 5.1.1 No such user"
				case cmd == "DATA", strings.HasPrefix(cmd, "BDAT"):
					return "554 5.5.1 No valid recipients"
				}
				return ""
			}}
			c := s.start(t)
			sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
			if err != nil || len(sent.Accepted()) != 0 {
				t.Fatalf("sent %+v, err %v", sent, err)
			}
			if got := flightsString(s.recorded()); strings.Contains(got, "bytes]") && !strings.Contains(got, "BDAT") {
				t.Errorf("a body went after every recipient was refused:\n%s", got)
			}
		})
	}

	t.Run("DATA answered 354 with nobody accepted: an empty message ends it", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}, reply: func(cmd string) string {
			switch {
			case strings.HasPrefix(cmd, "RCPT"):
				return "550 5.1.1 No such user"
			case cmd == ".":
				return "554 5.5.1 No valid recipients"
			}
			return ""
		}}
		c := s.start(t)
		called := false
		sent, err := c.Send(letter, nil, func(*Sent) error { called = true; return nil })
		if err != nil || called || sent.Data.Code != 354 || sent.End != nil {
			t.Errorf("sent %+v, err %v, beforeEnd called %v", sent, err, called)
		}
		if got := flightsString(s.recorded()); !strings.HasSuffix(got, "\n[0 bytes] | .") {
			t.Errorf("flights:\n%s", got)
		}
	})

	t.Run("MAIL refused", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}, reply: func(cmd string) string {
			switch {
			case strings.HasPrefix(cmd, "MAIL"):
				return "550 5.7.1 Sender refused"
			case strings.HasPrefix(cmd, "RCPT"), cmd == "DATA":
				return "503 5.5.1 Bad sequence"
			}
			return ""
		}}
		c := s.start(t)
		sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
		if err != nil || sent.Mail.Code != 550 || sent.End != nil {
			t.Errorf("sent %+v, err %v", sent, err)
		}
	})

	t.Run("421 in the middle of a flight", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}, hangUp: "RCPT TO:<bob", reply: nil}
		c := s.start(t)
		sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Phase != PhaseMAIL {
			t.Errorf("sent %+v, err %v; want an IOError at MAIL (nothing answered)", sent, err)
		}
	})

	// A refusal, then the connection closed, in the group that held the
	// end: the server has not the letter, and its words say why.
	for _, tt := range []struct{ name, after, phase string }{
		{"421 to MAIL, then closed", "MAIL", PhaseMAIL},
		{"421 to every RCPT, then closed", "RCPT TO:<bob", PhaseRCPT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &wire{ext: []string{"PIPELINING", "CHUNKING"}, closeAfter: tt.after, reply: func(cmd string) string {
				if strings.HasPrefix(cmd, tt.after[:4]) {
					return "421 4.7.0 Try again later, closing connection."
				}
				return ""
			}}
			c := s.start(t)
			sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
			var ioe *IOError
			if !errors.As(err, &ioe) || ioe.Phase != tt.phase {
				t.Fatalf("sent %+v, err %v; want an IOError at %s", sent, err, tt.phase)
			}
			if r := sent.Mail; tt.phase == PhaseMAIL && (r == nil || r.Code != 421 || r.Text != "Try again later, closing connection.") {
				t.Errorf("MAIL's reply: %+v", r)
			}
		})
	}

	t.Run("connection lost after BDAT LAST: the end's fate is unknown", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING", "CHUNKING"}, hangUp: "BDAT"}
		c := s.start(t)
		called := false
		_, err := c.Send(letter, nil, func(*Sent) error { called = true; return nil })
		var ioe *IOError
		if !called || !errors.As(err, &ioe) || ioe.Phase != PhaseEOD {
			t.Errorf("err %v, beforeEnd called %v; want an IOError at EOD", err, called)
		}
	})

	t.Run("BDAT refused", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING", "CHUNKING"}, reply: func(cmd string) string {
			if strings.HasPrefix(cmd, "BDAT") {
				return "554 5.7.1 Message refused"
			}
			return ""
		}}
		c := s.start(t)
		sent, err := c.Send(letter, nil, func(*Sent) error { return nil })
		if err != nil || sent.End.Code != 554 || sent.End.Enhanced != "5.7.1" {
			t.Errorf("sent %+v, err %v", sent, err)
		}
	})
}

func TestBeforeEndFailsNothingEnds(t *testing.T) {
	for _, ext := range [][]string{{"PIPELINING", "CHUNKING"}, {"PIPELINING"}} {
		s := &wire{ext: ext}
		c := s.start(t)
		_, err := c.Send(letter, nil, func(*Sent) error { return errors.New("disk full") })
		if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%v: err %v", ext, err)
		}
		time.Sleep(100 * time.Millisecond)
		if got := flightsString(s.recorded()); strings.Contains(got, "BDAT") || strings.HasSuffix(got, ".") {
			t.Errorf("%v: the end went out:\n%s", ext, got)
		}
	}
}

func TestParametersOnTheWire(t *testing.T) {
	s := &wire{ext: []string{"PIPELINING", "CHUNKING", "DSN", "SIZE 10000000", "SMTPUTF8"}}
	c := s.start(t)
	m := *letter
	m.EnvID, m.Ret, m.Notify = "k3y+x=y", "HDRS", []string{"FAILURE", "DELAY"}
	m.To = []string{"ann@example.com", "иван@example.com"}
	m.UTF8 = true
	if _, err := c.Send(&m, nil, func(*Sent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := "MAIL FROM:<dept@example.edu> SIZE=35 SMTPUTF8 RET=HDRS ENVID=k3y+2Bx+3Dy | " +
		"RCPT TO:<ann@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;ann@example.com | " +
		"RCPT TO:<иван@example.com> NOTIFY=FAILURE,DELAY | BDAT 35 LAST | [35 bytes]"
	if got := flightsString(s.recorded()); got != want {
		t.Errorf("flight:\n%s\nwant:\n%s", got, want)
	}
	if c.MaxSize() != 10000000 {
		t.Errorf("MaxSize = %d", c.MaxSize())
	}
}

func TestParseReply(t *testing.T) {
	for _, tt := range []struct {
		code int
		msg  string
		want Reply
	}{
		{550, "5.1.1 No such user here", Reply{550, "5.1.1", "No such user here"}},
		{250, "2.0.0 Ok: queued as 12345", Reply{250, "2.0.0", "Ok: queued as 12345"}},
		{451, "4.3.0 Try\n4.3.0 again later", Reply{451, "4.3.0", "Try again later"}},
		{550, "No such user", Reply{550, "", "No such user"}},
		{550, "4.1.1 class does not match", Reply{550, "", "4.1.1 class does not match"}},
		{250, "1.2.3.4 is your address", Reply{250, "", "1.2.3.4 is your address"}},
	} {
		if got := parseReply(tt.code, tt.msg); *got != tt.want {
			t.Errorf("parseReply(%d, %q) = %+v, want %+v", tt.code, tt.msg, *got, tt.want)
		}
	}
}

func TestDotStuffing(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeDotStuffed(w, []byte(".a\r\nb\n.c\rd\r\n..e\r\n"))
	w.Flush()
	if want := "..a\r\nb\r\n..c\r\nd\r\n...e\r\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestWithCRLF: a message ends in CRLF however short it is (a one-byte
// message once sliced out of range).
func TestWithCRLF(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"x", "x\r\n"},
		{"\n", "\n\r\n"},
		{"\r\n", "\r\n"},
		{"ab", "ab\r\n"},
		{"a\r\n", "a\r\n"},
	} {
		if got := string(withCRLF([]byte(tt.in))); got != tt.want {
			t.Errorf("withCRLF(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// writes counts the writes made on a connection, and the bytes of each.
type writes struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.sizes = append(w.sizes, len(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// A small letter's body goes with its final dot in one write, after the
// point of no return: one system call on each side. A letter larger than
// the buffer goes out as the buffer fills, its tail with the dot.
func TestBodyAndDotInOneWrite(t *testing.T) {
	for _, tt := range []struct {
		name       string
		size       int
		minBody    int // writes of the body, its last with the dot, at least
		bodyBefore int // body writes made before beforeEnd, at least
	}{
		{"small", 100, 1, 0},
		{"large", 20000, 5, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var w *writes
			s := &wire{ext: []string{"PIPELINING"}}
			c := s.startWith(t, func(c net.Conn) net.Conn { w = &writes{Conn: c}; return w })
			w.mu.Lock()
			w.sizes = nil
			w.mu.Unlock()
			m := *letter
			m.Data = []byte("Subject: x\r\n\r\n" + strings.Repeat("line of the letter\r\n", tt.size/20))
			var before int
			sent, err := c.Send(&m, nil, func(*Sent) error {
				w.mu.Lock()
				before = len(w.sizes) - 1 // the flight of commands went first
				w.mu.Unlock()
				return nil
			})
			if err != nil || sent.End == nil || sent.End.Code != 250 {
				t.Fatalf("sent %+v, %v", sent, err)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			body := len(w.sizes) - 1
			if body < tt.minBody || (tt.name == "small" && body != 1) || before < tt.bodyBefore || (tt.name == "small" && before != 0) {
				t.Errorf("writes %v: %d for the body and dot, %d of them before the point of no return", w.sizes, body, before)
			}
		})
	}
}

// The next transaction's MAIL, RCPTs and DATA go in the flight that ends
// the message before (RFC 2920 §3.1): a letter a round trip, where the
// server pipelines but has no CHUNKING.
func TestNextRidesTheEnd(t *testing.T) {
	second := &Mail{From: "dept@example.edu", To: []string{"carol@example.com"}, Data: []byte("Subject: y\r\n\r\nHi\r\n")}
	const bothFlights = "MAIL FROM:<dept@example.edu> | RCPT TO:<ann@example.com> | RCPT TO:<bob@example.com> | DATA\n" +
		"[36 bytes] | . | MAIL FROM:<dept@example.edu> | RCPT TO:<carol@example.com> | DATA\n" +
		"[18 bytes] | ."

	t.Run("both delivered, the second in one round trip", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}}
		c := s.start(t)
		first, err := c.Send(letter, second, func(*Sent) error { return nil })
		if err != nil || first.End == nil || first.End.Code != 250 || c.Early() != second {
			t.Fatalf("first: %+v, %v (sent early: %+v)", first, err, c.Early())
		}
		called := 0
		sent, err := c.Send(second, nil, func(*Sent) error { called++; return nil })
		if err != nil || called != 1 || sent.Mail.Code != 250 || sent.Rcpt[0].Code != 250 || sent.Data.Code != 354 || sent.End == nil || sent.End.Code != 250 {
			t.Fatalf("second: %+v, %v (beforeEnd called %d times)", sent, err, called)
		}
		if got := flightsString(s.recorded()); got != bothFlights {
			t.Errorf("flights:\n%s\nwant:\n%s", got, bothFlights)
		}
	})

	t.Run("the first refused at its end, the second delivered", func(t *testing.T) {
		dots := 0
		s := &wire{ext: []string{"PIPELINING"}, reply: func(cmd string) string {
			if cmd == "." {
				if dots++; dots == 1 {
					return "554 5.7.1 Message rejected as spam"
				}
			}
			return ""
		}}
		c := s.start(t)
		first, err := c.Send(letter, second, func(*Sent) error { return nil })
		if err != nil || first.End == nil || first.End.Code != 554 {
			t.Fatalf("first: %+v, %v", first, err)
		}
		sent, err := c.Send(second, nil, func(*Sent) error { return nil })
		if err != nil || sent.End == nil || sent.End.Code != 250 {
			t.Fatalf("second: %+v, %v", sent, err)
		}
		if got := flightsString(s.recorded()); got != bothFlights {
			t.Errorf("flights:\n%s\nwant:\n%s", got, bothFlights)
		}
	})

	t.Run("the first ends the session: the second is not sent with it", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}}
		c := s.start(t)
		last := *letter
		last.Quit = true
		sent, err := c.Send(&last, second, func(*Sent) error { return nil })
		if err != nil || sent.End == nil || sent.End.Code != 250 || c.Early() != nil {
			t.Fatalf("sent %+v, %v (sent early: %+v)", sent, err, c.Early())
		}
		if got := flightsString(s.recorded()); strings.Contains(got, "carol@") || !strings.HasSuffix(got, ". | QUIT") {
			t.Errorf("flights:\n%s", got)
		}
	})

	t.Run("the second's only recipient refused: no message follows", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}, reply: func(cmd string) string {
			if strings.Contains(cmd, "carol@") {
				return "550 5.1.1 No such user"
			}
			return ""
		}}
		c := s.start(t)
		if _, err := c.Send(letter, second, func(*Sent) error { return nil }); err != nil {
			t.Fatal(err)
		}
		called := false
		sent, err := c.Send(second, nil, func(*Sent) error { called = true; return nil })
		if err != nil || called || len(sent.Accepted()) != 0 || sent.Rcpt[0].Code != 550 {
			t.Fatalf("second: %+v, %v (beforeEnd called: %v)", sent, err, called)
		}
	})

	t.Run("never sent on: nothing more is written, QUIT, NOOP or RSET would be lines of a message", func(t *testing.T) {
		for _, end := range []struct {
			name string
			do   func(*Client) error
			fail bool
		}{
			{"QUIT", (*Client).Quit, false},
			{"NOOP", (*Client).Noop, true},
			{"RSET", (*Client).Reset, true},
		} {
			var w *writes
			s := &wire{ext: []string{"PIPELINING"}}
			c := s.startWith(t, func(c net.Conn) net.Conn { w = &writes{Conn: c}; return w })
			if _, err := c.Send(letter, second, func(*Sent) error { return nil }); err != nil {
				t.Fatal(err)
			}
			w.mu.Lock()
			before := len(w.sizes)
			w.mu.Unlock()
			if err := end.do(c); (err != nil) != end.fail {
				t.Errorf("%s: err %v", end.name, err)
			}
			w.mu.Lock()
			if len(w.sizes) != before {
				t.Errorf("%s wrote %v after the flight that sent the next envelope", end.name, w.sizes[before:])
			}
			w.mu.Unlock()
		}
	})

	t.Run("the connection lost after 354: the end never went, the body's failure", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			io.WriteString(conn, "220 hi\r\n")
			r.ReadString('\n') // EHLO
			io.WriteString(conn, "250-hi\r\n250 PIPELINING\r\n")
			for range 4 { // MAIL, two RCPT, DATA
				r.ReadString('\n')
			}
			io.WriteString(conn, "250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n")
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close() // a reset: the client's next write fails
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := NewClient(conn, 5*time.Second, 5*time.Second)
		if _, err := c.Greeting(time.Second); err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		_, err = c.Send(letter, nil, func(*Sent) error { time.Sleep(100 * time.Millisecond); return nil }) // the reset arrives
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Phase != PhaseBody {
			t.Fatalf("err %v, want an IOError in BODY: the final dot never left", err)
		}
	})

	t.Run("another transaction than the one sent early: the connection is dropped", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}}
		c := s.start(t)
		if _, err := c.Send(letter, second, func(*Sent) error { return nil }); err != nil {
			t.Fatal(err)
		}
		other := *second
		var ioe *IOError
		if _, err := c.Send(&other, nil, func(*Sent) error { t.Error("beforeEnd called"); return nil }); !errors.As(err, &ioe) || ioe.Phase != PhaseMAIL {
			t.Fatalf("err %v, want an IOError in MAIL", err)
		}
		time.Sleep(100 * time.Millisecond)
		if got := flightsString(s.recorded()); strings.Count(got, "[") != 1 {
			t.Errorf("a message went:\n%s", got)
		}
	})

	t.Run("the end of the first lost: the second is not sent", func(t *testing.T) {
		s := &wire{ext: []string{"PIPELINING"}, hangUp: "."}
		c := s.start(t)
		_, err := c.Send(letter, second, func(*Sent) error { return nil })
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Phase != PhaseEOD {
			t.Fatalf("first: err %v, want an IOError in EOD (its fate unknown)", err)
		}
		if _, err := c.Send(second, nil, func(*Sent) error { t.Error("beforeEnd called"); return nil }); !errors.As(err, &ioe) {
			t.Fatalf("second: err %v, want an IOError", err)
		}
	})

	for _, ext := range [][]string{{"PIPELINING", "CHUNKING"}, nil} {
		t.Run("not sent early without PIPELINING or with CHUNKING: "+strings.Join(ext, "+"), func(t *testing.T) {
			s := &wire{ext: ext}
			c := s.start(t)
			if _, err := c.Send(letter, second, func(*Sent) error { return nil }); err != nil || c.TakesNext() || c.Early() != nil {
				t.Fatalf("err %v, takes next %v, sent early %+v", err, c.TakesNext(), c.Early())
			}
			if got := flightsString(s.recorded()); strings.Contains(got, "carol@") {
				t.Errorf("the next envelope went:\n%s", got)
			}
		})
	}
}

//go:build linux

package main

import (
	"net"
	"time"
)

// delayProxy listens on loopback and forwards every connection to target,
// holding each chunk of bytes for half the round trip in each direction:
// a link with that round-trip time and loopback's bandwidth.
type delayProxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration
}

func startDelayProxy(target string, rtt time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, oneWay: rtt / 2}
	go p.serve()
	return p, nil
}

func (p *delayProxy) Addr() string { return p.ln.Addr().String() }
func (p *delayProxy) Close()       { p.ln.Close() }

func (p *delayProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

func (p *delayProxy) relay(client net.Conn) {
	// The connection itself takes a round trip, as a TCP handshake does.
	time.Sleep(2 * p.oneWay)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(server, client, done)
	go p.pipe(client, server, done)
	<-done
	<-done
	client.Close()
	server.Close()
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies from src to dst, each chunk oneWay after it was read.
func (p *delayProxy) pipe(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	broken := false
	for c := range q {
		if broken {
			continue
		}
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			broken = true
			src.Close()
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

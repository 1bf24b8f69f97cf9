package storetest

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
)

// LossyProxy stands between a client and a Redis at addr (host:port) and
// loses replies on request: after LoseReplyTo(s), the next request that
// contains s reaches Redis and runs there, but its connection is cut
// before the reply comes back, as when a network drops it. A client that
// resends the command (go-redis does, once) thus runs it twice.
type LossyProxy struct {
	Addr string // where clients connect

	mu    sync.Mutex
	armed string
	lost  int
}

// StartLossyProxy starts a proxy to the Redis at addr for the test.
func StartLossyProxy(t testing.TB, addr string) *LossyProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &LossyProxy{Addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, addr)
		}
	}()
	return p
}

// LoseReplyTo arms the proxy for the next request containing s (any case).
func (p *LossyProxy) LoseReplyTo(s string) {
	p.mu.Lock()
	p.armed = strings.ToLower(s)
	p.mu.Unlock()
}

// Lost reports how many replies were lost.
func (p *LossyProxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

func (p *LossyProxy) serve(client net.Conn, addr string) {
	server, err := net.Dial("tcp", addr)
	if err != nil {
		client.Close()
		return
	}
	defer client.Close()
	defer server.Close()
	var mu sync.Mutex
	drop := false
	go func() {
		defer server.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if p.armed != "" && bytes.Contains(bytes.ToLower(buf[:n]), []byte(p.armed)) {
					p.armed = ""
					mu.Lock()
					drop = true
					mu.Unlock()
				}
				p.mu.Unlock()
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		mu.Lock()
		lose := drop && n > 0
		mu.Unlock()
		if lose {
			p.mu.Lock()
			p.lost++
			p.mu.Unlock()
			return // the reply is read and thrown away: the client's connection ends
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

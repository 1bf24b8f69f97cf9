// Package tcpproxy relays TCP connections and can cut them: the network
// between a dialer and its switch failing, for tests.
package tcpproxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy relays TCP connections to a target and can cut them all at once:
// an event socket dropped by the network, while the switch and its calls
// go on.
type Proxy struct {
	l      net.Listener
	target string

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	downUntil time.Time
	closed    bool
	wg        sync.WaitGroup
}

// NewProxy listens on a free loopback port and relays to target.
func New(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Cut closes every connection, both ways, and for the next d turns new
// ones away (accepted and closed at once, as a host that resets them).
func (p *Proxy) Cut(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = time.Now().Add(d)
	for c := range p.conns {
		c.Close()
	}
}

// Close stops the proxy and its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.l.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.closed || time.Now().Before(p.downUntil)
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// relay copies both ways until either side ends, then closes both: a half
// open relay would keep a dead client's switch connection alive.
func (p *Proxy) relay(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// track registers a pair unless a cut or Close came while it was dialed.
func (p *Proxy) track(client, server net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || time.Now().Before(p.downUntil) {
		return false
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	return true
}

package storetest

import (
	"net"
	"testing"
	"time"
)

// A port taken by another process is not mistaken for the redis-server
// just started on it (which exits for want of its port): what answers
// must answer PING with PONG, and the server must still run.
func TestWaitListeningWantsOurRedis(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("Content-Type: auth/request\n\n"))
			c.Close()
		}
	}()
	exited := make(chan error, 1)
	time.AfterFunc(200*time.Millisecond, func() { exited <- nil })
	if waitListening(l.Addr().String(), exited) {
		t.Fatal("a foreign listener taken for the redis-server")
	}

	srv := StartRedis(t)
	if !Pong(srv.URL[len("redis://"):]) {
		t.Fatal("a redis-server does not answer PONG")
	}
}

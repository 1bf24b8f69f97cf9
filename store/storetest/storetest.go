// Package storetest gives tests a real redis-server of their own, on a free
// port, stopped when the test ends, and a Redis Cluster shared by a test
// binary's tests.
package storetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// installHint says how to get redis-server where it is missing.
const installHint = `redis-server is not on the PATH; the integration tests start their own.
Install it: Debian/Ubuntu "sudo apt-get install redis-server", Fedora "sudo dnf install redis",
macOS "brew install redis", or see https://redis.io/docs/latest/operate/oss_and_stack/install/`

// Server is a redis-server run for a test.
type Server struct {
	URL string
	cmd *exec.Cmd
}

// Pause stops the server's process (SIGSTOP): connections stay open and
// nothing answers, as in a network partition. Resume lets it go on.
func (s *Server) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// RedisURL starts a redis-server (no persistence) for the test and returns
// its redis:// URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	return StartRedis(t).URL
}

// StartRedis starts a redis-server (no persistence) for the test.
func StartRedis(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(installHint)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitListening(addr, done) {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGCONT)
				_ = cmd.Process.Kill()
				<-done
			})
			return &Server{URL: "redis://" + addr, cmd: cmd}
		}
		_ = cmd.Process.Kill() // the port was taken meanwhile: try another
	}
	t.Fatal("redis-server did not start")
	return nil
}

func freePort(t testing.TB) int {
	port, err := anyFreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func anyFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until the redis-server just started answers at
// addr. A PING must get its PONG while the process still runs: another
// test binary may have taken the free port in the meantime, and then what
// answers is not this server, which exits for want of its port.
func waitListening(addr string, exited <-chan error) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		if Pong(addr) {
			select {
			case <-exited:
				return false
			default:
				return true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Pong reports whether a Redis server answers PING at addr (host:port).
func Pong(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	reply := make([]byte, 7)
	_, err = io.ReadFull(c, reply)
	return err == nil && string(reply) == "+PONG\r\n"
}

// Open returns a store on a fresh redis-server.
func Open(t testing.TB) *store.Store {
	t.Helper()
	return open(t, store.Config{URL: RedisURL(t)})
}

// OpenOn returns a store on the given server, with a command timeout.
func OpenOn(t testing.TB, s *Server, timeout time.Duration) *store.Store {
	t.Helper()
	return open(t, store.Config{URL: s.URL, Timeout: timeout})
}

// OpenEmbedded returns a store on a fresh in-process Redis.
func OpenEmbedded(t testing.TB) *store.Store {
	t.Helper()
	return open(t, store.Config{URL: "embedded"})
}

func open(t testing.TB, cfg store.Config) *store.Store {
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Backends runs f against a real redis-server, the embedded Redis, a
// Redis Cluster of six redis-server processes and a Sentinel set (the
// package's TestMain must call Main), as subtests.
func Backends(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Run("redis-server", func(t *testing.T) { f(t, Open(t)) })
	t.Run("embedded", func(t *testing.T) { f(t, OpenEmbedded(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, OpenCluster(t)) })
	t.Run("sentinel", func(t *testing.T) { f(t, OpenSentinel(t)) })
}

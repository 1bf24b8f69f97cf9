package chaos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store/storetest"
)

// The processes of a run: redis-server, fsim and dialerd, each started,
// killed and restarted as the run says, with their output kept in files of
// the run's directory.

// build compiles a command of this module into dir. With race the binary
// has the race detector: a data race in dialerd under faults then ends it,
// and the run reports it.
func build(t *testing.T, dir, pkg string, race bool) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/fsdialer/fsdialer/"+pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// runSeed is a run's seed: CHAOS_SEED's, else a random one for a full
// run (random), else 1.
func runSeed(t *testing.T, random bool) uint64 {
	if s := os.Getenv(envSeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", envSeed, s)
		}
		return seed
	}
	if random {
		return rand.Uint64() % 1000000
	}
	return 1
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisServer is a redis-server with AOF, fsync on every write, restarted
// on the same port and directory so it comes back with its data.
type redisServer struct {
	port   int
	dir    string
	log    string
	starts int
	cmd    *exec.Cmd
	done   chan error
	// upSince is when it last answered PING after a start; before that it
	// refused connections or answered LOADING.
	upSince time.Time
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start starts it and waits until it answers PING, that is, until it has
// loaded its AOF.
func (r *redisServer) start() error {
	r.starts++
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server (is it installed? the tests need it on the PATH): %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	r.cmd, r.done = cmd, done
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			r.cmd = nil
			return fmt.Errorf("redis-server exited at its start: %v (see %s)", err, r.log)
		default:
		}
		if storetest.Pong(fmt.Sprintf("127.0.0.1:%d", r.port)) {
			r.upSince = time.Now()
			return nil
		}
	}
	return errors.New("redis-server did not answer PING within a minute")
}

// kill crashes it (SIGKILL): what was fsynced stays.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// fsim is the simulator, started once: it holds the calls, so it is never
// killed while the campaign runs.
type fsim struct {
	addr    string
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

func startFsim(bin, dir, scenario string, seed uint64, scale float64) (*fsim, error) {
	path := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(path, []byte(scenario), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "fsim.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-scenario", path, "-ledger", filepath.Join(dir, "ledger.jsonl"),
		"-seed", strconv.FormatUint(seed, 10), "-time-scale", strconv.FormatFloat(scale, 'g', -1, 64))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &fsim{cmd: cmd, done: make(chan error, 1)}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			f.addr = addr
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); f.done <- cmd.Wait(); logf.Close() }()
	if f.addr == "" {
		f.stop()
		return nil, errors.New("fsim did not say where it listens (see fsim.log)")
	}
	return f, nil
}

// stop ends it in order (SIGTERM): its ledger is complete once it exited.
func (f *fsim) stop() {
	if f.stopped {
		return
	}
	f.stopped = true
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	<-f.done
}

// dialerd runs the daemon, one process ("incarnation") after the other,
// each with its own log file.
type dialerd struct {
	bin, config, dir string
	instance, api    string // its instance name and API address, where a run has several
	n                int    // incarnations started
	cmd              *exec.Cmd
	exited           chan exited // the current incarnation's end
	since            time.Time   // when it was started
}

type exited struct {
	n       int
	started time.Time
	err     error
	log     string
}

func (d *dialerd) logPath(n int) string {
	return filepath.Join(d.dir, fmt.Sprintf("dialerd-%02d.log", n))
}

func (d *dialerd) up() bool { return d.cmd != nil }

func (d *dialerd) start() error {
	d.n++
	n := d.n
	logf, err := os.Create(d.logPath(n))
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "run", "-config", d.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all") // a SIGQUIT dumps every goroutine
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	d.cmd, d.since = cmd, time.Now()
	ch := make(chan exited, 1)
	d.exited = ch
	started := time.Now()
	go func() {
		err := cmd.Wait()
		logf.Close()
		ch <- exited{n: n, started: started, err: err, log: d.logPath(n)}
	}()
	return nil
}

// kill crashes the daemon (SIGKILL) and waits for it to be gone.
func (d *dialerd) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	d.cmd = nil
}

// quit asks the daemon for its goroutines (SIGQUIT: the Go runtime
// writes them to its log and exits) and waits for it to be gone.
func (d *dialerd) quit() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// stop stops it in order (SIGTERM), as systemd does.
func (d *dialerd) stop() error {
	if d.cmd == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	e := <-d.exited
	d.cmd = nil
	return e.err
}

// ended reports an incarnation that ended by itself, if one did.
func (d *dialerd) ended() (exited, bool) {
	if d.cmd == nil {
		return exited{}, false
	}
	select {
	case e := <-d.exited:
		d.cmd = nil
		return e, true
	default:
		return exited{}, false
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// ledgerTail counts the channels fsim has created so far, reading its
// ledger file as it grows: the run's measure of progress.
type ledgerTail struct {
	path    string
	off     int64
	partial []byte
	created int
}

func (l *ledgerTail) channels() int {
	f, err := os.Open(l.path)
	if err != nil {
		return l.created
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return l.created
	}
	b, _ := io.ReadAll(f)
	l.off += int64(len(b))
	b = append(l.partial, b...)
	last := bytes.LastIndexByte(b, '\n')
	l.partial = append([]byte(nil), b[last+1:]...)
	for _, line := range bytes.Split(b[:last+1], []byte("\n")) {
		// one entry a line, its kind first (sim's ledgerEntry)
		if bytes.HasPrefix(line, []byte(`{"kind":"create"`)) || bytes.HasPrefix(line, []byte(`{"kind":"stillborn"`)) {
			l.created++
		}
	}
	return l.created
}

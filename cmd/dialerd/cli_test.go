package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

// TestMain lets a test run dialerd's main in a child process (the test
// binary itself, with DIALERD_TEST_MAIN=1): exit codes and signals are
// only seen there.
func TestMain(m *testing.M) {
	if os.Getenv("DIALERD_TEST_MAIN") == "1" {
		os.Args = append([]string{"dialerd"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dialerd starts "dialerd args..." as a child process.
func dialerd(t *testing.T, env []string, args ...string) (cmd *exec.Cmd, stdout, stderr *syncbuf.Buffer) {
	t.Helper()
	cmd = exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "DIALERD_TEST_MAIN=1"), env...)
	stdout, stderr = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

func exitCodeOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestCommandLine: help, in every way a newcomer asks for it, lists the
// commands or the flags and exits 0; a wrong command or flag prints the
// usage on stderr and exits 2; a failure exits 1 saying why.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     []string // each must appear
		stderr     []string
		noStdout   bool
		stdoutNots []string
	}{
		{args: []string{"-h"}, stdout: []string{"dialerd demo [flags]", "dialerd version", "Usage: dialerd run", "-config file"}},
		{args: []string{"--help"}, stdout: []string{"dialerd demo [flags]", "-config file"}},
		{args: []string{"help"}, stdout: []string{"dialerd [run] [-config FILE]", "dialerd demo [flags]", "dialerd help [COMMAND]"}},
		{args: []string{"help", "run"}, stdout: []string{"Usage: dialerd run", "-config file", "deploy/dialerd.yaml"}},
		{args: []string{"run", "-h"}, stdout: []string{"Usage: dialerd run", "-config file"}},
		{args: []string{"help", "demo"}, stdout: []string{"Usage: dialerd demo", "-time-scale", "-exit-when-done", "-listen address"}},
		{args: []string{"demo", "-h"}, stdout: []string{"Usage: dialerd demo", "-time-scale", "-exit-when-done"}},
		{args: []string{"help", "version"}, stdout: []string{"Usage: dialerd version"}},
		{args: []string{"version"}, stdout: []string{"dialerd "}},
		{args: []string{"launch"}, code: 2, noStdout: true, stderr: []string{`unknown command "launch"`, "dialerd demo [flags]"}},
		{args: []string{"help", "launch"}, code: 2, noStdout: true, stderr: []string{`unknown command "launch"`, "dialerd demo [flags]"}},
		{args: []string{"run", "-bogus"}, code: 2, noStdout: true, stderr: []string{"dialerd run: flag provided but not defined: -bogus", "-config file"}},
		{args: []string{"-bogus"}, code: 2, noStdout: true, stderr: []string{"flag provided but not defined: -bogus", "Usage: dialerd run"}},
		{args: []string{"demo", "extra"}, code: 2, noStdout: true, stderr: []string{`dialerd demo: unexpected argument "extra"`, "-time-scale"}},
		{args: []string{"version", "-x"}, code: 2, noStdout: true, stderr: []string{"flag provided but not defined: -x"}},
		{args: []string{"run", "-config", "/nonexistent/dialerd.yaml"}, code: 1, noStdout: true, stderr: []string{"dialerd: config /nonexistent/dialerd.yaml"}},
		{args: []string{"run"}, code: 1, noStdout: true, stderr: []string{"freeswitch.nodes", "-config FILE", "dialerd demo"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, stdout, stderr := dialerd(t, nil, tc.args...)
			if code := exitCodeOf(t, cmd); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout has no %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr has no %q:\n%s", want, stderr.String())
				}
			}
			if tc.noStdout && stdout.String() != "" {
				t.Errorf("stdout:\n%s\nwant nothing", stdout.String())
			}
			if tc.code == 0 && stderr.String() != "" {
				t.Errorf("stderr:\n%s\nwant nothing", stderr.String())
			}
		})
	}
}

// TestSignalsEndCleanly: SIGINT (Ctrl-C) and SIGTERM (systemd) stop the
// demo and the daemon in order, with a goodbye, and exit 0, so make does
// not report an error.
func TestSignalsEndCleanly(t *testing.T) {
	dir := t.TempDir()
	closed := closedAddr(t)
	config := filepath.Join(dir, "dialerd.yaml")
	// Embedded Redis and a FreeSWITCH that is not there: the daemon starts
	// and keeps trying to connect.
	os.WriteFile(config, []byte(fmt.Sprintf("redis: {url: embedded}\nhttp: {listen: \"127.0.0.1:0\"}\napi: {tokens: [t]}\n"+
		"freeswitch: {nodes: [{name: fs1, address: %q}]}\n", closed)), 0o600)
	for _, tc := range []struct {
		name    string
		args    []string
		sig     syscall.Signal
		ready   func(stdout, stderr string) bool
		goodbye func(stdout, stderr string) bool
	}{
		{
			name:  "demo on SIGINT",
			args:  []string{"demo", "-listen", "127.0.0.1:0", "-members", "20"},
			sig:   syscall.SIGINT,
			ready: func(stdout, _ string) bool { return strings.Contains(stdout, "REST API") },
			goodbye: func(stdout, _ string) bool {
				return strings.HasSuffix(stdout, "stopped (interrupt signal received). Goodbye.\n")
			},
		},
		{
			name:    "run on SIGTERM",
			args:    []string{"run", "-config", config},
			sig:     syscall.SIGTERM,
			ready:   func(_, stderr string) bool { return strings.Contains(stderr, `msg="esl: cannot connect"`) },
			goodbye: func(_, stderr string) bool { return strings.Contains(stderr, `msg="dialerd: stopped, goodbye"`) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, stdout, stderr := dialerd(t, nil, tc.args...)
			both := outputs{stdout, stderr}
			waitFor(t, "it to start", both, func(string) bool { return tc.ready(stdout.String(), stderr.String()) })
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := exitCodeOf(t, cmd); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if !tc.goodbye(stdout.String(), stderr.String()) {
				t.Errorf("no goodbye:\n%s", both.String())
			}
			if strings.Contains(stderr.String(), "level=WARN msg=\"esl: connection lost\"") || strings.Contains(stderr.String(), "level=ERROR") {
				t.Errorf("a warning of a connection never made, or an error:\n%s", stderr.String())
			}
		})
	}
}

// outputs shows a child's stdout and stderr together.
type outputs struct{ stdout, stderr *syncbuf.Buffer }

func (o outputs) String() string {
	return "stdout:\n" + o.stdout.String() + "stderr:\n" + o.stderr.String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTakenPortIsToldFirst: when the address is taken, the demo prints no
// banner and no token, and the daemon does not even reach Redis; both say
// which address is taken and what to set instead.
func TestTakenPortIsToldFirst(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"demo", []string{"demo", "-listen", addr}, nil,
			[]string{"-listen " + addr + ": the address is in use", "-listen 127.0.0.1:", "make run ARGS="}},
		{"run, http.listen", []string{"run"}, map[string]string{"DIALER_HTTP_LISTEN": addr},
			[]string{"config http.listen " + addr + ": the address is in use", "set http.listen (or DIALER_HTTP_LISTEN) to a free address, such as 127.0.0.1:"}},
		{"run, metrics.listen", []string{"run"}, map[string]string{"DIALER_HTTP_LISTEN": "127.0.0.1:0", "DIALER_METRICS_LISTEN": addr},
			[]string{"config metrics.listen " + addr + ": the address is in use", "set metrics.listen (or DIALER_METRICS_LISTEN)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Redis and FreeSWITCH that are not there: reaching either would
			// be another error than the address's.
			t.Setenv("DIALER_REDIS_URL", "redis://"+closedAddr(t)+"/0")
			t.Setenv("DIALER_FREESWITCH_ADDRESS", closedAddr(t))
			t.Setenv("DIALER_API_TOKENS", "t")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr syncbuf.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("started on a taken address")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nhas no %q", err, want)
				}
			}
			if stdout.String() != "" || stderr.String() != "" {
				t.Errorf("printed before the error:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}

// TestOpenAPIIsRefusedOffLoopback: without tokens the API may be open on
// loopback (a warning), elsewhere only when api.allow_open says so; the
// refusal says exactly what to set.
func TestOpenAPIIsRefusedOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen     string
		tokens     []string
		readTokens []string
		allowOpen  bool
		refused    bool
	}{
		{listen: "127.0.0.1:8080"},
		{listen: "[::1]:8080"},
		{listen: "localhost:8080"},
		{listen: "0.0.0.0:8080", refused: true},
		{listen: ":8080", refused: true},
		{listen: "[::]:8080", refused: true},
		{listen: "10.0.0.5:8080", refused: true},
		{listen: "dialer.example.com:8080", refused: true},
		{listen: "0.0.0.0:8080", tokens: []string{"secret"}},
		{listen: "0.0.0.0:8080", readTokens: []string{"reader"}},
		{listen: "0.0.0.0:8080", allowOpen: true},
	} {
		t.Run(fmt.Sprintf("%s tokens=%d/%d allow_open=%v", tc.listen, len(tc.tokens), len(tc.readTokens), tc.allowOpen), func(t *testing.T) {
			var c Config
			c.HTTP.Listen, c.API.Tokens, c.API.ReadTokens, c.API.AllowOpen = tc.listen, tc.tokens, tc.readTokens, tc.allowOpen
			err := c.checkOpenAPI()
			if (err != nil) != tc.refused {
				t.Fatalf("error %v, want refused=%v", err, tc.refused)
			}
			if err == nil {
				return
			}
			for _, want := range []string{tc.listen, "api.tokens", "DIALER_API_TOKENS", "api.allow_open: true", "DIALER_API_ALLOW_OPEN=true"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nhas no %q", err, want)
				}
			}
		})
	}
}

// TestRunRefusesAnOpenAPI: the check is made by "dialerd run" before it
// starts, and DIALER_API_ALLOW_OPEN lifts it.
func TestRunRefusesAnOpenAPI(t *testing.T) {
	t.Setenv("DIALER_HTTP_LISTEN", "0.0.0.0:0")
	t.Setenv("DIALER_REDIS_URL", "redis://"+closedAddr(t)+"/0")
	t.Setenv("DIALER_FREESWITCH_ADDRESS", closedAddr(t))
	var out syncbuf.Buffer
	if err := run(context.Background(), []string{"run"}, &out, &out); err == nil || !strings.Contains(err.Error(), "api.allow_open") {
		t.Fatalf("an open API on every interface: %v", err)
	}
	t.Setenv("DIALER_API_ALLOW_OPEN", "true")
	// Allowed, it goes on to Redis, which is not there.
	if err := run(context.Background(), []string{"run"}, &out, &out); err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Fatalf("allowed: %v, want it to reach for Redis", err)
	}
}

func TestEstimateOfTimeLeft(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		est         estimator
		now         time.Duration // after t0
		done, total int64
		left        time.Duration
		known       bool
	}{
		{"nothing done yet", estimator{since: t0}, time.Minute, 0, 100, 0, false},
		{"no time passed", estimator{since: t0}, 0, 0, 100, 0, false},
		{"a quarter in a minute", estimator{since: t0}, time.Minute, 25, 100, 3 * time.Minute, true},
		{"all done", estimator{since: t0}, time.Minute, 100, 100, 0, true},
		{"rate since a restart", estimator{since: t0, doneBefore: 100}, time.Minute, 110, 120, time.Minute, true},
		{"none since the restart", estimator{since: t0, doneBefore: 100}, time.Minute, 100, 120, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			left, known := tc.est.left(t0.Add(tc.now), tc.done, tc.total)
			if left != tc.left || known != tc.known {
				t.Fatalf("left %v %v, want %v %v", left, known, tc.left, tc.known)
			}
		})
	}
}

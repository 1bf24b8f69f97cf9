package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets a test run fsim's main in a child process (the test binary
// itself, with FSIM_TEST_MAIN=1): exit codes are only seen there.
func TestMain(m *testing.M) {
	if os.Getenv("FSIM_TEST_MAIN") == "1" {
		os.Args = append([]string{"fsim"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandLine: asked for help, fsim says what it is and lists its
// flags on stdout and exits 0; a wrong flag or an argument prints what is
// wrong and the usage on stderr and exits 2; a failure exits 1 saying why.
func TestCommandLine(t *testing.T) {
	usage := []string{"simulated FreeSWITCH", "Usage: fsim [flags]", "-listen address", "-scenario file", "-ledger file", "-seed"}
	bad := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(bad, []byte("gateways: [{name: gw, answer: lots}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr []string // each must appear
	}{
		{args: []string{"-h"}, stdout: usage},
		{args: []string{"-help"}, stdout: usage},
		{args: []string{"--help"}, stdout: usage},
		{args: []string{"-nosuch"}, code: 2, stderr: append([]string{"fsim: flag provided but not defined: -nosuch"}, usage...)},
		{args: []string{"-seed", "many"}, code: 2, stderr: append([]string{`fsim: invalid value "many" for flag -seed`}, usage...)},
		{args: []string{"-listen", "127.0.0.1:0", "extra"}, code: 2, stderr: append([]string{`fsim: unexpected argument "extra"`}, usage...)},
		{args: []string{"-scenario", "/nonexistent/scenario.yaml"}, code: 1, stderr: []string{"fsim: ", "/nonexistent/scenario.yaml"}},
		{args: []string{"-scenario", bad}, code: 1, stderr: []string{"fsim: "}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.args...)
			// The race detector otherwise waits a second before a clean exit.
			cmd.Env = append(os.Environ(), "FSIM_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := 0
			var exit *exec.ExitError
			switch err := cmd.Run(); {
			case errors.As(err, &exit):
				code = exit.ExitCode()
			case err != nil:
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
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
			if tc.code == 0 && stderr.Len() != 0 {
				t.Errorf("stderr:\n%s\nwant nothing", stderr.String())
			}
			if tc.code != 0 && stdout.Len() != 0 {
				t.Errorf("stdout:\n%s\nwant nothing", stdout.String())
			}
		})
	}
}

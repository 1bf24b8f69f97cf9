// Package chaos proves that dialerd keeps its promises when its parts
// fail: it runs the real daemon, the FreeSWITCH simulator (cmd/fsim) over
// ESL and a redis-server with AOF, kills the daemon, cuts its event socket
// and crashes Redis at random moments of a broadcast campaign, then holds
// what the dialer recorded against the simulator's ledger, the switch's own
// record of every channel it made.
//
// TestChaos is the run (make chaos for the full one; a short one is part
// of make test); Verify is its part that is not a process, and
// internal/tcpproxy cuts the event socket.
// docs/chaos.md has the figures.
package chaos

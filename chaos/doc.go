// Package chaos proves that dialerd keeps its promises when its parts
// fail: it runs the real daemon, the FreeSWITCH simulator (cmd/fsim) over
// ESL and a redis-server with AOF, kills the daemon, cuts its event socket
// and crashes Redis at random moments of a campaign, then holds what the
// dialer recorded against the simulator's ledger, the switch's own record
// of every channel it made.
//
// TestChaos is the run on a broadcast (make chaos for the full one; a
// short one is part of make test), and Verify its checks of the member
// calls. TestChaosAgents is the same run on a progressive campaign with 20
// agents, ten rung for each call and ten in a persistent session (make
// chaos-agents; a short one in make test), and VerifyAgents adds the
// agents' checks: no agent in two bridges or two calls at once, no
// answered member left alone outside a fault window, no agent leg left up
// but the sessions the store holds. internal/tcpproxy cuts the event
// socket. docs/chaos.md has the figures.
package chaos

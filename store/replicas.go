package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durable writes. Redis replicates asynchronously: a write its master
// acknowledged and then lost in a crash, before a replica had it, is gone
// once the replica is promoted. The writes the dialer acts on across a
// failover are therefore followed by WAIT on the connection that made them
// (WAIT counts the replicas that have everything up to that connection's
// last write, and the replication stream is ordered, so it covers every
// earlier write of the same master as well):
//
//   - the attempt journal before an originate (OpenAttempt, UpdateAttempt,
//     UpdateAttempts), which also covers the member's claim made just
//     before it in the campaign's slot;
//   - a member's write (WriteMember: a call's result, before the switch's
//     end record of the call is deleted);
//   - an agent's reservation (ReserveAgent, ReserveAgents) and a session's
//     opening (OpenSession), before the agent is called.
//
// Everything else is rebuilt after a failover: leases are renewed (a
// gateway slot that vanished is added back by its renewal), lapsed
// reservations free their agent, statistics and webhook events are at
// worst short of the last moment's.
//
// The store waits only on Sentinel and Cluster (Config.WaitReplicas); a
// single node has nothing to fail over to. When fewer replicas than asked
// acknowledge within Config.WaitTimeout, the store asks the master how
// many replicas it has online:
//
//   - enough, but lagging: the write fails with ErrNotReplicated (an
//     ErrUnavailable). The caller does not act on it: no originate, no
//     agent called, the switch's end record kept; the engine tries again
//     as after any outage (every durable write is safe to run twice). A
//     failover now would promote a replica without it, so acting on it
//     could dial a number twice.
//   - too few (one is down, or none is back yet after a promotion): the
//     write stands on the master alone and is counted (Replication); no
//     failover can lose it to a replica that does not exist. Writes to
//     that master skip WAIT until INFO shows the replicas back, asked at
//     most once per holdOff: a missing replica costs nothing per write.

// holdOff is how often a master found short of replicas is asked again.
const holdOff = time.Second

// ErrNotReplicated is the error of a durable write that fewer replicas
// than Config.WaitReplicas acknowledged within Config.WaitTimeout while
// the master had enough of them: it may be lost in a failover, so it is
// not to be acted on. It is an ErrUnavailable: try again later.
var ErrNotReplicated = fmt.Errorf("the write reached too few replicas in time: %w", ErrUnavailable)

// replication is a store's WAIT settings and counts.
type replication struct {
	replicas int           // replicas to wait for; 0: none
	timeout  time.Duration // WAIT's timeout
	// short maps a master's address (on a cluster; "" else) to the time
	// (unix nanoseconds) until which it is taken to lack replicas: one
	// shard without a replica leaves the others' writes waiting.
	short   sync.Map
	waits   atomic.Int64 // WAITs sent
	alone   atomic.Int64 // durable writes that stand on a master short of replicas
	lagging atomic.Int64 // durable writes refused: the replicas did not acknowledge in time
}

// ReplicationStats are a store's durable writes so far.
type ReplicationStats struct {
	Replicas     int   // replicas each durable write waits for (0: it does not wait)
	Waits        int64 // WAIT commands sent
	Unreplicated int64 // durable writes that stand on a master short of replicas
	Lagging      int64 // durable writes refused (ErrNotReplicated): replicas behind
}

// Replication returns the counts of the store's durable writes.
func (s *Store) Replication() ReplicationStats {
	return ReplicationStats{Replicas: s.repl.replicas, Waits: s.repl.waits.Load(), Unreplicated: s.repl.alone.Load(), Lagging: s.repl.lagging.Load()}
}

// onlineReplicas counts the replicas of the master c talks to that are
// online (INFO replication).
func onlineReplicas(ctx context.Context, c redis.UniversalClient) (int, error) {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n, nil
}

// shortOfReplicas reports whether master is taken to lack replicas now:
// once its hold-off has passed it is asked again.
func (s *Store) shortOfReplicas(ctx context.Context, c redis.UniversalClient, master string) bool {
	until, ok := s.repl.short.Load(master)
	if !ok {
		return false
	}
	if time.Now().UnixNano() < until.(int64) {
		return true
	}
	if n, err := onlineReplicas(ctx, c); err == nil && n >= s.repl.replicas {
		s.repl.short.Delete(master)
		return false
	}
	s.repl.short.Store(master, time.Now().Add(holdOff).UnixNano())
	return true
}

// durableClient returns the client a durable write to slotKey's slot goes
// through, its master's address on a cluster ("" else), and whether to
// follow the write with WAIT. On a cluster the client is the
// slot's master itself: the cluster client would send a keyless WAIT to
// some other node, on a connection that wrote nothing.
func (s *Store) durableClient(ctx context.Context, slotKey string) (c redis.UniversalClient, master string, wait bool, err error) {
	if s.repl.replicas <= 0 {
		return s.rdb, "", false, nil
	}
	c = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, slotKey)
		if err != nil {
			return nil, "", false, err
		}
		c, master = node, node.Options().Addr
	}
	if s.shortOfReplicas(ctx, c, master) {
		s.repl.alone.Add(1)
		return c, master, false, nil
	}
	return c, master, true, nil
}

// waitCmd appends WAIT to a pipeline.
func (s *Store) waitCmd(ctx context.Context, p redis.Pipeliner) *redis.IntCmd {
	s.repl.waits.Add(1)
	cmd := redis.NewIntCmd(ctx, "wait", s.repl.replicas, s.repl.timeout.Milliseconds())
	_ = p.Process(ctx, cmd) // queued: its reply comes with the pipeline's
	return cmd
}

// waited checks a WAIT's reply (see the top of the file): an error is
// the connection's (the write's fate is unknown, as for any write whose
// reply was lost), or ErrNotReplicated.
func (s *Store) waited(ctx context.Context, c redis.UniversalClient, w *redis.IntCmd, master string) error {
	if w == nil {
		return nil
	}
	n, err := w.Result()
	if err != nil {
		return fmt.Errorf("wait for %d replica(s): %w", s.repl.replicas, err)
	}
	if int(n) >= s.repl.replicas {
		return nil
	}
	online, err := onlineReplicas(ctx, c)
	if err == nil && online < s.repl.replicas {
		s.repl.alone.Add(1)
		s.repl.short.Store(master, time.Now().Add(holdOff).UnixNano())
		return nil
	}
	s.repl.lagging.Add(1)
	return fmt.Errorf("%d of %d replica(s) in %v: %w", n, s.repl.replicas, s.repl.timeout, ErrNotReplicated)
}

// durable runs write's commands in one pipeline on the master of
// slotKey's slot, followed by WAIT where the store waits for replicas.
// The error is the pipeline's first (a command's own error is in its
// reply, as with Pipelined).
func (s *Store) durable(ctx context.Context, slotKey string, write func(p redis.Pipeliner)) error {
	c, master, wait, err := s.durableClient(ctx, slotKey)
	if err != nil {
		return err
	}
	if !wait {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { write(p); return nil })
		return err
	}
	var w *redis.IntCmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		w = s.waitCmd(ctx, p)
		return nil
	})
	if err != nil {
		return err
	}
	return s.waited(ctx, c, w, master)
}

// evalDurable is script.Run followed by WAIT (see durable).
func (s *Store) evalDurable(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c, master, wait, err := s.durableClient(ctx, keys[0])
	switch {
	case err != nil:
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	case !wait:
		return script.Run(ctx, c, keys, args...)
	}
	var w *redis.IntCmd
	cmds, err := evalPipelinedOn(ctx, c, script, func(int) []string { return keys }, [][]any{args}, func(p redis.Pipeliner) { w = s.waitCmd(ctx, p) })
	if len(cmds) == 1 && cmds[0] != nil && cmds[0].Err() != nil {
		return cmds[0] // the script's own error
	}
	if err == nil {
		err = s.waited(ctx, c, w, master)
	}
	if err != nil || len(cmds) != 1 || cmds[0] == nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return cmds[0]
}

// evalPipelinedDurable is evalPipelinedOn followed by WAIT (see durable);
// every run's keys must be in one slot.
func (s *Store) evalPipelinedDurable(ctx context.Context, script *redis.Script, keys func(i int) []string, argv [][]any) ([]*redis.Cmd, error) {
	c, master, wait, err := s.durableClient(ctx, keys(0)[0])
	if err != nil {
		return nil, err
	}
	if !wait {
		return evalPipelinedOn(ctx, c, script, keys, argv, nil)
	}
	var w *redis.IntCmd
	cmds, err := evalPipelinedOn(ctx, c, script, keys, argv, func(p redis.Pipeliner) { w = s.waitCmd(ctx, p) })
	if err != nil {
		return cmds, err
	}
	return cmds, s.waited(ctx, c, w, master)
}

package store

import (
	"context"
	"fmt"
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
// acknowledge within Config.WaitTimeout (a replica down or far behind, or
// none yet after a promotion), the write stands on the master and is
// counted (Replication), and durable writes to that master skip WAIT for
// holdOff, so that a missing replica costs one timeout a second, not one
// per write.

// holdOff is how long durable writes go without WAIT after one fell short.
const holdOff = time.Second

// replication is a store's WAIT settings and counts.
type replication struct {
	replicas int           // replicas to wait for; 0: none
	timeout  time.Duration // WAIT's timeout
	// holdUntil maps a master's address (on a cluster; "" else) to the
	// time (unix nanoseconds) before which writes to it do not wait: one
	// shard without a replica leaves the others' writes waiting.
	holdUntil sync.Map
	waits     atomic.Int64 // WAITs sent
	short     atomic.Int64 // durable writes no replica acknowledged in time (or not waited for)
}

// held reports whether writes to master skip WAIT now.
func (r *replication) held(master string) bool {
	until, ok := r.holdUntil.Load(master)
	return ok && time.Now().UnixNano() < until.(int64)
}

// ReplicationStats are a store's durable writes so far.
type ReplicationStats struct {
	Replicas     int   // replicas each durable write waits for (0: it does not wait)
	Waits        int64 // WAIT commands sent
	Unreplicated int64 // durable writes that stand on the master alone
}

// Replication returns the counts of the store's durable writes.
func (s *Store) Replication() ReplicationStats {
	return ReplicationStats{Replicas: s.repl.replicas, Waits: s.repl.waits.Load(), Unreplicated: s.repl.short.Load()}
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
	if s.repl.held(master) {
		s.repl.short.Add(1)
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

// waited checks a WAIT's reply: an error is the connection's (the write's
// fate is unknown, as for any write whose reply was lost); fewer replicas
// than asked is counted and starts the hold-off.
func (s *Store) waited(w *redis.IntCmd, master string) error {
	if w == nil {
		return nil
	}
	n, err := w.Result()
	if err != nil {
		return fmt.Errorf("wait for %d replica(s): %w", s.repl.replicas, err)
	}
	if int(n) < s.repl.replicas {
		s.repl.short.Add(1)
		s.repl.holdUntil.Store(master, time.Now().Add(holdOff).UnixNano())
	}
	return nil
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
	return s.waited(w, master)
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
		err = s.waited(w, master)
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
	return cmds, s.waited(w, master)
}

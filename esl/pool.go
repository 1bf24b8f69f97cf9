package esl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrNoCapacity means no switch of the pool is connected with a free line.
var ErrNoCapacity = errors.New("esl: no connected switch with free capacity")

// Node is a switch in a Pool: its client and how many calls it may carry.
type Node struct {
	*Client
	capacity int64
	inUse    atomic.Int64
}

// NewNode wraps a client; capacity 0 means no limit of the pool's own.
func NewNode(c *Client, capacity int) *Node {
	return &Node{Client: c, capacity: int64(capacity)}
}

// InUse returns the calls placed on this node and not yet released.
func (n *Node) InUse() int { return int(n.inUse.Load()) }

// Capacity returns the node's call limit (0: none).
func (n *Node) Capacity() int { return int(n.capacity) }

// free returns the free lines, or -1 when the node may not take a call.
func (n *Node) free() int64 {
	if st, _ := n.State(); st != Connected {
		return -1
	}
	if n.capacity == 0 {
		return 1 << 40
	}
	return n.capacity - n.inUse.Load()
}

// Release returns a line taken by Acquire.
func (n *Node) Release() { n.inUse.Add(-1) }

// Hold counts a call the pool did not place (one found on the switch after
// a restart) against the node's capacity; Release frees it.
func (n *Node) Hold() { n.inUse.Add(1) }

// Pool places calls on a set of switches.
type Pool struct {
	nodes []*Node
}

// NewPool returns a pool over nodes.
func NewPool(nodes ...*Node) *Pool { return &Pool{nodes: nodes} }

// Nodes returns the pool's nodes.
func (p *Pool) Nodes() []*Node { return p.nodes }

// Node returns the node with that name, or nil.
func (p *Pool) Node(name string) *Node {
	for _, n := range p.nodes {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

// Acquire takes a line on the connected node with the most free lines. The
// caller places its call there and calls Release when the call is over.
func (p *Pool) Acquire() (*Node, error) {
	for {
		var best *Node
		var bestFree int64
		for _, n := range p.nodes {
			if f := n.free(); f > 0 && f > bestFree {
				best, bestFree = n, f
			}
		}
		if best == nil {
			return nil, ErrNoCapacity
		}
		if best.capacity == 0 {
			best.inUse.Add(1)
			return best, nil
		}
		// Claim the line unless a concurrent Acquire took the last one.
		if cur := best.inUse.Load(); cur < best.capacity && best.inUse.CompareAndSwap(cur, cur+1) {
			return best, nil
		}
	}
}

// AcquireOn takes a line on the named node: a call that must be on the
// same switch as another (a member bridged into an agent's session).
func (p *Pool) AcquireOn(name string) (*Node, error) {
	n := p.Node(name)
	if n == nil {
		return nil, fmt.Errorf("esl: no node %q: %w", name, ErrNoCapacity)
	}
	for {
		if n.free() <= 0 {
			return nil, fmt.Errorf("esl: node %s: %w", name, ErrNoCapacity)
		}
		if n.capacity == 0 {
			n.inUse.Add(1)
			return n, nil
		}
		if cur := n.inUse.Load(); cur < n.capacity && n.inUse.CompareAndSwap(cur, cur+1) {
			return n, nil
		}
	}
}

// Run runs every node's client until ctx ends.
func (p *Pool) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, n := range p.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = n.Run(ctx) // returns ctx's error, reported below
		}()
	}
	wg.Wait()
	return ctx.Err()
}

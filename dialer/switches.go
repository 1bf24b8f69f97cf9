package dialer

import (
	"context"

	"github.com/fsdialer/fsdialer/esl"
)

// Switch is a FreeSWITCH node as the engine uses it.
type Switch interface {
	Name() string
	BgAPIJob(ctx context.Context, jobID, command string) (*esl.Job, error)
	API(ctx context.Context, command string) (string, error)
}

// Switches are the nodes the engine places calls on.
type Switches interface {
	// Acquire takes a line on a connected node with free capacity; release
	// gives it back.
	Acquire() (sw Switch, release func(), err error)
	// AcquireOn takes a line on the named node (a call bridged to a leg
	// that is there).
	AcquireOn(node string) (sw Switch, release func(), err error)
	// Hold counts a call found on a node (after a restart) against its
	// capacity.
	Hold(node string) (release func())
	// Node returns a node by name (nil when unknown).
	Node(name string) Switch
	// Connected reports whether a node is connected now.
	Connected(name string) bool
	// Available reports whether some node could take a call now.
	Available() bool
	// Names lists the nodes.
	Names() []string
}

// PoolSwitches adapts an esl.Pool.
func PoolSwitches(p *esl.Pool) Switches { return poolSwitches{p} }

type poolSwitches struct{ p *esl.Pool }

func (ps poolSwitches) Acquire() (Switch, func(), error) {
	n, err := ps.p.Acquire()
	if err != nil {
		return nil, nil, err
	}
	return n, n.Release, nil
}

func (ps poolSwitches) AcquireOn(node string) (Switch, func(), error) {
	n, err := ps.p.AcquireOn(node)
	if err != nil {
		return nil, nil, err
	}
	return n, n.Release, nil
}

func (ps poolSwitches) Hold(node string) func() {
	n := ps.p.Node(node)
	if n == nil {
		return func() {}
	}
	n.Hold()
	return n.Release
}

func (ps poolSwitches) Node(name string) Switch {
	if n := ps.p.Node(name); n != nil {
		return n
	}
	return nil
}

func (ps poolSwitches) Connected(name string) bool {
	n := ps.p.Node(name)
	if n == nil {
		return false
	}
	st, _ := n.State()
	return st == esl.Connected
}

func (ps poolSwitches) Names() []string {
	var names []string
	for _, n := range ps.p.Nodes() {
		names = append(names, n.Name())
	}
	return names
}

func (ps poolSwitches) Available() bool {
	n, err := ps.p.Acquire()
	if err != nil {
		return false
	}
	n.Release()
	return true
}

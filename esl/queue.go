package esl

import "sync"

// queue is an unbounded FIFO between one producer goroutine and one
// consumer goroutine. The socket reader must never wait for a slow event
// handler (replies would stall behind events), and a dialer must never drop
// an event, so the queue grows instead.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
	closed bool
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{signal: make(chan struct{}, 1)}
}

// push appends x; it reports false once the queue is closed.
func (q *queue[T]) push(x T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, x)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

// close ends the queue; take still returns what was pushed before.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take waits for items and returns all of them, swapping in buf (emptied)
// as the new backing array. ok is false when the queue is closed and empty.
func (q *queue[T]) take(buf []T) (items []T, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			items = q.items
			q.items = buf[:0]
			q.mu.Unlock()
			return items, true
		}
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		q.mu.Unlock()
		<-q.signal
	}
}

// len returns the number of waiting items.
func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
